from urllib.parse import parse_qs, urlsplit

import httpx

from odoo.tests import HttpCase, tagged

from flitstack_connectors.emulators.clio import ClioEmulator
from flitstack_connectors.sources.clio import ClioSource


@tagged("post_install", "-at_install", "flitstack")
class TestClioOAuth(HttpCase):
    """The authorization-code flow through Odoo's callback route, against the emulated Clio."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.clio = ClioEmulator(contacts=5, matters=3, rate_limit=1000)
        cls.clio.start()
        cls.addClassCleanup(cls.clio.stop)
        cls.connection = cls.env["flitstack.connection"].create({
            "name": "OAuth Clio", "kind": "clio", "base_url": cls.clio.base_url,
            "client_id": cls.clio.client_id, "client_secret": cls.clio.client_secret,
        })

    def approve(self):
        """What the admin's browser does at Clio: follow the authorize URL, get sent back."""
        action = self.connection.action_clio_authorize()
        self.assertEqual(action["type"], "ir.actions.act_url")
        answer = httpx.get(action["url"], follow_redirects=False)
        self.assertEqual(answer.status_code, 302)
        back = urlsplit(answer.headers["location"])
        self.assertEqual(back.path, "/flitstack/oauth/clio/callback")
        return back

    def test_sign_in_stores_tokens_and_discovers_then_disconnect_revokes(self):
        back = self.approve()
        query = parse_qs(back.query)
        self.assertEqual(query["state"], [f"{self.connection.id}.{self.connection._oauth_state_signature()}"])
        self.authenticate("admin", "admin")
        response = self.url_open(f"{back.path}?{back.query}", allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(response.headers["Location"].endswith(f"/odoo/flitstack-connections/{self.connection.id}"))
        conn = self.connection.sudo()
        self.assertEqual(conn.state, "connected", conn.last_error)
        self.assertTrue(conn.access_token and conn.refresh_token and conn.token_expires_at)
        self.assertEqual([o["name"] for o in conn.discovery_json], list(ClioSource.object_order))
        self.assertEqual([o["name"] for o in conn.discovery_json][:5],
                         ["users", "practice_areas", "custom_fields", "contacts", "matters"])
        refresh = conn.refresh_token
        # the same code cannot be used twice
        self.url_open(f"{back.path}?{back.query}", allow_redirects=False)
        self.assertEqual(conn.state, "error")
        self.assertIn("invalid_grant", conn.last_error)
        self.assertNotIn(refresh, conn.last_error)

        conn.access_token = self.clio.issue_token()["access_token"]
        conn.action_clio_disconnect()
        self.assertEqual((conn.state, conn.access_token, conn.refresh_token), ("draft", False, False))

    def test_forged_state_is_refused_and_changes_nothing(self):
        back = self.approve()
        code = parse_qs(back.query)["code"][0]
        self.authenticate("admin", "admin")
        response = self.url_open(f"{back.path}?code={code}&state={self.connection.id}.forged", allow_redirects=False)
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self.connection.state, "draft")
        self.assertFalse(self.connection.sudo().access_token)

    def test_callback_is_for_administrators_only(self):
        back = self.approve()
        self.env["res.users"].create({"name": "Sales Rep", "login": "rep", "password": "rep-password-123",
                                      "groups_id": [(6, 0, [self.env.ref("base.group_user").id])]})
        self.authenticate("rep", "rep-password-123")
        response = self.url_open(f"{back.path}?{back.query}", allow_redirects=False)
        self.assertEqual(response.status_code, 404)
        self.assertFalse(self.connection.sudo().access_token)
