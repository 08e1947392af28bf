from odoo.tests import tagged

from ..models.crm_lead import SCORING_RUN_KEY
from ..services.rollback import RunRollback
from ..services.scoring import ScoringSettlement
from .common import FlitstackCase


class Undone(Exception):
    """Leaves a savepoint rolled back."""


@tagged("post_install", "-at_install", "flitstack")
class TestLeadScoring(FlitstackCase):
    """crm's lead scoring of migrated leads: the loads keep its increments aside (two
    batches loading at once would update the same frequency rows), the run's end adds
    them once, and the figures are crm's own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # two batches of matters, a quarter of them closed (won)
        cls.serve_clio(contacts=200, matters=700, rate_limit=1000, rate_window=60.0)
        # crm's recount takes leads created from this date: the migrated ones keep their own
        cls.env["ir.config_parameter"].sudo().set_param("crm.pls_start_date", "2000-01-01")

    def frequencies(self):
        self.env.flush_all()
        self.env.cr.execute("SELECT coalesce(team_id, 0), variable, value, won_count, lost_count "
                            "FROM crm_lead_scoring_frequency")
        table = {}
        for team, variable, value, won, lost in self.env.cr.fetchall():
            # crm reads one row per couple (the last); the table holds one as long as nobody raced
            self.assertNotIn((team, variable, value), table)
            table[(team, variable, value)] = (round(won, 1), round(lost, 1))
        return table

    def waiting(self, run):
        self.env.cr.execute("SELECT count(*) FROM flitstack_run_scoring WHERE run_id = %s", [run.id])
        return self.env.cr.fetchone()[0]

    def test_loads_keep_increments_aside_and_the_end_gives_crms_own_figures(self):
        Lead = self.env["crm.lead"]
        # leads lost in Odoo before the migration, at two stages: without lost leads every open lead scores 99.99
        stages = self.env["crm.stage"].search([("is_won", "=", False)], order="sequence")
        lost = Lead.create([{"name": f"Lost {i}", "type": "opportunity", "stage_id": stages[i % 2].id,
                             "email_from": "x@firm.example" if i % 3 else False} for i in range(30)])
        lost.action_set_lost()
        Lead._rebuild_pls_frequency_table()
        before = self.frequencies()
        run = self.connection._new_run("full")
        with self.trap_jobs() as trap:
            run.action_start()
            closes = 0
            while trap.enqueued_jobs:
                job = trap.enqueued_jobs.pop(0)
                if job.method_name == "_job_close":
                    closes += 1
                    # every batch loaded: crm's table untouched, the run's increments waiting
                    self.assertEqual(self.frequencies(), before)
                    self.assertGreater(self.waiting(run), 0)
                job.perform()
                if job.method_name == "_job_close":
                    break  # the blueprints read next are not this test's business
        self.assertEqual((closes, run.state, run.reconciled), (1, "done", True), run.error)
        self.assertEqual(self.waiting(run), 0)
        leads = Lead.with_context(active_test=False).search([("x_flitstack_source_ref", "=like", "matters/%")])
        self.assertEqual(len(leads), 700)
        won = leads.filtered(lambda lead: lead.stage_id.is_won)
        self.assertTrue(40 < len(won) < 700 - 40, len(won))
        after = self.frequencies()
        # every stage row counts each migrated won lead once (crm counts a won lead at every stage)
        for team in {lead.team_id.id or 0 for lead in won}:
            won_here = len(won.filtered(lambda lead: (lead.team_id.id or 0) == team))
            for stage in self.env["crm.stage"].search([]):
                key = (team, "stage_id", str(stage.id))
                # a couple crm did not count yet starts at 0.1 (its guard against zero frequencies)
                self.assertAlmostEqual(after[key][0], before.get(key, (0.1, 0.1))[0] + won_here, places=1, msg=key)
        # crm's own recount of every won and lost lead gives the table the run left
        Lead._rebuild_pls_frequency_table()
        self.assertEqual(self.frequencies(), after)

        # open leads: the automated probability crm computes from the table as it stands
        open_leads = leads - won
        expected = open_leads._pls_get_naive_bayes_probabilities(batch_mode=True)
        self.assertEqual(set(expected), set(open_leads.ids))
        self.assertGreater(len(set(expected.values())), 1)
        for lead in open_leads:
            self.assertEqual((lead.automated_probability, lead.probability),
                             (expected[lead.id], expected[lead.id]), lead.id)
        self.assertEqual(set(won.mapped("probability")), {100.0})

        # the rollback takes the run's counts back: crm's table is as it was, rows the run
        # created included (unlinking a won lead uncounts nothing in crm by itself)
        self.assertGreater(len(set(after) - set(before)), 0)
        RunRollback(run).execute()
        self.assertFalse(leads.exists())
        self.assertEqual(self.frequencies(), before)
        self.assertFalse(self.env["flitstack.run.scoring.applied"].search([("run_id", "=", run.id)]))

    def test_a_lead_that_leaves_won_is_counted_as_crm_counts_it_live(self):
        Lead = self.env["crm.lead"]
        team = self.env["crm.team"].search([], limit=1)
        won_stage = self.env["crm.stage"].search([("is_won", "=", True)], limit=1)
        open_stage = self.env["crm.stage"].search([("is_won", "=", False)], order="sequence", limit=1)
        leads = Lead.create([{"name": f"Matter {i}", "type": "opportunity", "team_id": team.id,
                              "stage_id": won_stage.id} for i in range(3)])
        before = self.frequencies()
        # crm, live: the leads' won counts are taken back as they leave the won stage
        with self.assertRaises(Undone), self.env.cr.savepoint():
            leads[:2].write({"stage_id": open_stage.id})
            live = self.frequencies()
            raise Undone()
        self.env.invalidate_all()
        self.assertNotEqual(live, before)
        run = self.new_running_run()
        leads[:2].with_context(**{SCORING_RUN_KEY: run.id}).write({"stage_id": open_stage.id})
        self.assertEqual(self.frequencies(), before)
        self.assertGreater(self.waiting(run), 0)
        ScoringSettlement(run).settle()
        self.assertEqual(self.frequencies(), live)
        self.assertEqual(self.waiting(run), 0)
        # taken back: the two leads' won counts return, as crm counts them won again
        ScoringSettlement(run).undo()
        self.assertEqual(self.frequencies(), before)
