from odoo import fields, models

#: context key of a run's loads: crm's live lead-scoring increments of the leads they
#: create or update are kept in the run's ``flitstack.run.scoring`` rows instead of being
#: written to ``crm.lead.scoring.frequency`` (see services/scoring.py)
SCORING_RUN_KEY = "flitstack_scoring_run"
#: context key of a run's rollback: its writes and deletes of leads count nothing in
#: crm's table; the rollback takes back what the run added instead (services/scoring.py)
SCORING_DISCARD_KEY = "flitstack_scoring_discard"


class CrmLead(models.Model):
    _inherit = "crm.lead"

    x_flitstack_source_ref = fields.Char(
        string="Source reference", index="btree_not_null", copy=False, readonly=True,
        help="Object and id of the record this lead was migrated from (matters/1234).")

    def _pls_increment_frequencies(self, from_state=None, to_state=None):
        """Inside a run's load, keep crm's increments for the run instead of writing them.

        crm counts each lead won or lost in ``crm.lead.scoring.frequency`` as it happens:
        a read of the rows of every (field, value) of the lead, then an UPDATE of each
        (every stage row for a won lead). Two batches of leads loading at once update the
        same rows, and PostgreSQL refuses the second transaction (serialisation failure).
        Here the increments crm computes (its own ``_pls_prepare_update_frequency_table``,
        with the lead's values as they are now: before a write for ``from_state``) are
        inserted as the run's rows, which no other transaction touches; the run adds
        them to crm's table once, at its end (:class:`..services.scoring.ScoringSettlement`).
        A savepoint rolled back (a record that fails alone) takes its rows with it."""
        if self.env.context.get(SCORING_DISCARD_KEY):
            return None
        run_id = self.env.context.get(SCORING_RUN_KEY)
        if not run_id:
            return super()._pls_increment_frequencies(from_state=from_state, to_state=to_state)
        if not self:
            return None
        new_frequencies_by_team, _existing = self._pls_prepare_update_frequency_table(
            target_state=from_state or to_state)
        step = 1 if to_state else -1
        rows = [(run_id, team_id or 0, variable, value, counts["won"] * step, counts["lost"] * step)
                for team_id, frequencies in new_frequencies_by_team.items()
                for variable, values in frequencies.items()
                for value, counts in values.items()]
        if rows:
            self.env.cr.execute(
                "INSERT INTO flitstack_run_scoring (run_id, team_id, variable, value, won, lost) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows)),
                [v for row in rows for v in row])
        return None
