from odoo import fields, models


class FlitstackRunScoringCounts(models.AbstractModel):
    """Lead-scoring counts of a run for one team, field and value, as crm counts them."""

    _name = "flitstack.run.scoring.counts"
    _description = "Migration run: lead-scoring counts of one team, field and value"

    run_id = fields.Many2one("flitstack.run", required=True, ondelete="cascade", index=True)
    team_id = fields.Integer(help="The sales team's id, 0 for leads without a team (as crm counts them).")
    variable = fields.Char(required=True)
    value = fields.Char()
    won = fields.Float()
    lost = fields.Float()


class FlitstackRunScoring(models.Model):
    """crm's lead-scoring increments of one won or lost lead of a run, kept until the
    run's end adds them all to ``crm.lead.scoring.frequency`` in one step
    (:mod:`..services.scoring`): the loads of a run insert rows here, which no two
    transactions share, rather than updating crm's few frequency rows, which every
    lead won or lost updates (every stage row for a won lead)."""

    _name = "flitstack.run.scoring"
    _inherit = "flitstack.run.scoring.counts"
    _description = "Migration run: lead-scoring increments waiting for the run's end"
    _log_access = False


class FlitstackRunScoringApplied(models.Model):
    """What a run's end added to ``crm.lead.scoring.frequency``, per team, field and
    value: the run's rollback takes exactly that back (:meth:`..services.scoring.ScoringSettlement.undo`),
    and deletes the rows the run created once they hold nothing else."""

    _name = "flitstack.run.scoring.applied"
    _inherit = "flitstack.run.scoring.counts"
    _description = "Migration run: lead-scoring counts its end added, for its rollback"
    _log_access = False

    created = fields.Boolean(help="crm's row for this couple did not exist before the run added to it.")
