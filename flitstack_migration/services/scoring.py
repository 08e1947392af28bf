"""crm's predictive lead scoring for the leads of a run, settled once at its end.

crm keeps, per sales team, field and value, how many leads were won and lost
(``crm.lead.scoring.frequency``), and updates those rows each time a lead is won
or lost.  Batches of one map load in parallel, and two transactions updating the
same rows make PostgreSQL refuse one of them; so a run's loads keep crm's
increments in rows of their own (``flitstack.run.scoring``, see
``models/crm_lead.py``), and :meth:`ScoringSettlement.settle`, in the run's
closing job (one at a time per run), does what crm would have done lead by lead:

1. Add the run's increments, summed per team, field and value, to crm's table
   with crm's own ``_pls_update_frequency_table`` (rows that exist are updated,
   new couples created), and delete the run's rows.
2. Recompute the automated probability of the run's open leads from the table
   as it now stands (crm's ``_pls_get_naive_bayes_probabilities``, as its daily
   recompute does), and their probability where it followed the automated one.
   A won lead stays at 100, a lost one at 0; a lead whose probability was set by
   hand keeps it.
3. Keep what step 1 added, per couple (``flitstack.run.scoring.applied``), so that
   the run's rollback takes exactly that back (:meth:`ScoringSettlement.undo`):
   deleting a won lead does not uncount it in crm, and a rollback's writes (a lead
   put back in its stage) count nothing, so the table is as before the run.

The figures are those crm's live increments would have given had the batches
loaded one after another: migrated leads are counted as crm counts any lead won
or lost in Odoo.  crm's full rebuild (the *Predictive Lead Scoring* scheduled
action, or *Update probabilities* in CRM settings) counts only leads created on
or after its start date (``crm.pls_start_date``), and migrated leads keep their
original creation dates: set that date before the oldest migrated lead there to
keep them counted when the table is rebuilt.
"""
from collections import defaultdict

from odoo.tools import split_every

#: leads whose probability is computed at once (crm's own step is 50,000)
COMPUTE_STEP = 10000


class ScoringSettlement:
    def __init__(self, run):
        self.run = run
        self.env = run.env

    def settle(self):
        """Apply the run's increments and recompute its open leads; returns
        ``{"frequencies": rows of crm's table written, "leads": probabilities changed}``."""
        if "crm.lead" not in self.env:
            return {"frequencies": 0, "leads": 0}
        written = self._apply_increments()
        return {"frequencies": written, "leads": self._recompute_probabilities()}

    def _apply_increments(self):
        cr = self.env.cr
        cr.execute("""
            SELECT team_id, variable, value, sum(won), sum(lost) FROM flitstack_run_scoring
            WHERE run_id = %s GROUP BY team_id, variable, value""", [self.run.id])
        rows = cr.fetchall()
        if not rows:
            return 0
        new_by_team = {}
        for team_id, variable, value, won, lost in rows:
            new_by_team.setdefault(team_id, {}).setdefault(variable, {})[value] = {"won": won, "lost": lost}
        Lead = self.env["crm.lead"].sudo()
        existing = self._existing(new_by_team)
        Lead._pls_update_frequency_table(new_by_team, 1, existing_frequencies_by_team=existing)
        # what was added, for the run's rollback (undo), with the couples crm had no row for
        self.env["flitstack.run.scoring.applied"].sudo().create([{
            "run_id": self.run.id, "team_id": team_id or 0, "variable": variable, "value": value,
            "won": won, "lost": lost,
            "created": not existing.get(team_id or 0, {}).get(variable, {}).get(value)}
            for team_id, variable, value, won, lost in rows])
        cr.execute("DELETE FROM flitstack_run_scoring WHERE run_id = %s", [self.run.id])
        return len(rows)

    def undo(self):
        """Take back what the run's end added to crm's table (the rollback of the run:
        its own writes and deletes of leads count nothing, ``SCORING_DISCARD_KEY``).
        A count goes no lower than crm's floor of 0.1; a row the run created goes once
        it holds no more than that.  Returns the rows of crm's table written or deleted."""
        if "crm.lead" not in self.env:
            return 0
        Applied = self.env["flitstack.run.scoring.applied"].sudo()
        applied = Applied.search([("run_id", "=", self.run.id)], order="id")
        # increments the run kept that its end did not add yet (a run stopped between the two)
        self.env.cr.execute("DELETE FROM flitstack_run_scoring WHERE run_id = %s", [self.run.id])
        if not applied:
            return 0
        sums = defaultdict(lambda: [0.0, 0.0, False])
        for row in applied:
            key = (row.team_id or 0, row.variable, row.value)
            sums[key][0] += row.won
            sums[key][1] += row.lost
            sums[key][2] = sums[key][2] or row.created
        by_team = {}
        for team_id, variable, value in sums:
            by_team.setdefault(team_id, {}).setdefault(variable, {})[value] = True
        existing = self._existing(by_team)
        Frequency = self.env["crm.lead.scoring.frequency"].sudo()
        touched = 0
        for (team_id, variable, value), (won, lost, created) in sums.items():
            current = existing.get(team_id, {}).get(variable, {}).get(value)
            if not current:
                continue  # crm's rebuild emptied the table since: nothing of the run's is left in it
            frequency = Frequency.browse(current["frequency_id"])
            new_won, new_lost = current["won"] - won, current["lost"] - lost
            if created and new_won <= 0.1 + 1e-6 and new_lost <= 0.1 + 1e-6:
                frequency.unlink()
            else:
                # crm's own rule: counts stay positive
                frequency.write({"won_count": new_won if new_won > 0 else 0.1,
                                 "lost_count": new_lost if new_lost > 0 else 0.1})
            touched += 1
        applied.unlink()
        return touched

    def _existing(self, new_by_team):
        """crm's rows for the couples of ``new_by_team``, in the shape crm's
        ``_pls_prepare_update_frequency_table`` gives them (team 0: no team)."""
        Frequency = self.env["crm.lead.scoring.frequency"].sudo()
        variables = sorted({v for frequencies in new_by_team.values() for v in frequencies})
        teams = [t for t in new_by_team if t]
        domain = [("variable", "in", variables)]
        domain += ["|", ("team_id", "in", teams), ("team_id", "=", False)] if teams else [("team_id", "=", False)]
        existing = {}
        for frequency in Frequency.search_read(domain, ["team_id", "variable", "value", "won_count", "lost_count"],
                                               order="id"):
            team_id = frequency["team_id"][0] if frequency["team_id"] else 0
            existing.setdefault(team_id, {v: {} for v in variables})[frequency["variable"]][frequency["value"]] = {
                "frequency_id": frequency["id"], "won": frequency["won_count"], "lost": frequency["lost_count"]}
        return existing

    def _recompute_probabilities(self):
        # flush what this step reads, nothing else: a pending write of another model (a
        # connection's token) must not be sent, and so logged at debug level, from here
        self.env["flitstack.audit.line"].flush_model()
        self.env.cr.execute("""
            SELECT DISTINCT res_id FROM flitstack_audit_line
            WHERE run_id = %s AND model = 'crm.lead' AND operation IN ('create', 'update') AND res_id IS NOT NULL
            ORDER BY res_id""", [self.run.id])
        ids = [row[0] for row in self.env.cr.fetchall()]
        Lead = self.env["crm.lead"].sudo()
        changed = 0
        for chunk in split_every(COMPUTE_STEP, ids):
            leads = Lead.browse(chunk).exists()
            # open leads only (crm's batch mode: active, probability strictly between 0 and 100 or empty)
            probabilities = leads._pls_get_naive_bayes_probabilities(batch_mode=True)
            by_value = defaultdict(list)
            for lead in leads.browse(list(probabilities)):
                if lead.automated_probability != probabilities[lead.id]:
                    by_value[probabilities[lead.id]].append(lead.id)
            Lead.flush_model()
            # crm's own statement (its daily recompute): the probability follows the automated
            # one where it did, else it is the one a user or the source set
            for value, lead_ids in by_value.items():
                self.env.cr.execute("""
                    UPDATE crm_lead SET automated_probability = %s,
                        probability = CASE WHEN (probability = automated_probability OR probability IS NULL)
                                           THEN %s ELSE probability END
                    WHERE id = ANY(%s)""", [value, value, lead_ids])
                changed += len(lead_ids)
            touched = Lead.browse([i for lead_ids in by_value.values() for i in lead_ids])
            Lead.invalidate_model(["automated_probability", "probability"])
            # what depends on the probability (prorated revenues) follows, as after a write
            touched.modified(["automated_probability", "probability"])
            Lead.flush_model()
        return changed
