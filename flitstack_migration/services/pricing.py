"""Rates as pricelists, from the lines a connection's runs loaded.

A source's rate hierarchy has no Odoo equivalent as data (Clio: a matter's
custom rates over the client's rates over activity categories over each user's
default rate; the whole hierarchy is kept in the rates blueprint).  What the
firm's next invoices need is the rate each client is charged, so at the end of
a full or delta run, for each :class:`~flitstack_connectors.mapping.spec.PricelistRule`
of the map, over every line the rule's object maps have loaded for the
connection (this run's and earlier runs' alike, as long as they are not rolled
back), the most-used unit price (by number of lines; a tie goes to the higher
price) becomes:

1. a service product (``rule.product``, unit of measure ``rule.product_uom``)
   whose sales price is the firm's most-used rate;
2. the standard pricelist ``rule.pricelist_name`` with one item: that product
   at that rate;
3. for each customer whose own most-used rate differs, a pricelist of its own
   with the product at its rate, set as the customer's pricelist
   and its contacts' pricelist (``property_product_pricelist``) when
   ``rule.assign_to_partner``.

Every record is created under an external id of the connection, with a
continuation ``create`` line, and every change of an existing one is an
``update`` line holding the old values, so rollback undoes it like any
migrated record.  A re-run that finds the same rates changes nothing.  Without
Invoicing (no ``product.pricelist`` or no lines' model) nothing happens and the
run's chatter says the rates were not migrated.
"""
import logging
from collections import Counter, defaultdict

from odoo import _

from .loader import LOAD_CONTEXT

_logger = logging.getLogger(__name__)


def most_used(counter):
    """The most frequent price; a tie goes to the higher price."""
    return max(counter.items(), key=lambda kv: (kv[1], kv[0]))[0]


class RateSettlement:
    """Lands the pricelist rules of a run's map."""

    def __init__(self, run, loader):
        self.run = run
        self.env = run.env
        self.loader = loader
        self.module = run.connection_id.xmlid_module
        self.lines = []

    def settle(self):
        """Returns ``{"created": n, "updated": n, "rules": n}``, or ``None`` when the
        map has rules but the destination cannot take them."""
        spec = self.run._spec()
        stats = {"created": 0, "updated": 0, "rules": 0}
        if not spec.pricelists or self.run.mode not in ("full", "delta"):
            return stats
        for rule in spec.pricelists:
            models = {spec.object_map(m).target_model for m in rule.from_maps}
            if "product.pricelist" not in self.env or any(m not in self.env for m in models):
                return None
            self._rule(rule, spec, stats)
            stats["rules"] += 1
        self.loader._write_audit(self.lines)
        return stats

    # -- the rates ---------------------------------------------------------------------
    def _loaded_lines(self, rule, spec):
        model = spec.object_map(rule.from_maps[0]).target_model
        self.env.cr.execute(
            "SELECT DISTINCT al.res_id FROM flitstack_audit_line al JOIN flitstack_run r ON r.id = al.run_id "
            "WHERE r.connection_id = %s AND al.map_name = ANY(%s) AND al.model = %s AND al.res_id > 0 "
            "AND NOT al.rolled_back AND al.operation IN ('create', 'update', 'skip')",
            [self.run.connection_id.id, list(rule.from_maps), model])
        return self.env[model].browse([r for (r,) in self.env.cr.fetchall()]).exists()

    def _rates(self, rule, spec):
        firm, by_partner = Counter(), defaultdict(Counter)
        lines = self._loaded_lines(rule, spec)
        currency = self.env.company.currency_id
        for line in lines:
            price = currency.round(line[rule.price_field] or 0.0)
            if not price:
                continue
            partner = line.mapped(rule.partner_path)[:1]
            firm[price] += 1
            if partner:
                by_partner[partner.commercial_partner_id][price] += 1
        return firm, by_partner

    def _rule(self, rule, spec, stats):
        firm, by_partner = self._rates(rule, spec)
        if not firm:
            return
        standard = most_used(firm)
        uom = self.env.ref(rule.product_uom, raise_if_not_found=False)
        product_values = {"type": "service", "sale_ok": True, "purchase_ok": False, **rule.product,
                          "list_price": standard}
        if uom:
            product_values.update(uom_id=uom.id, uom_po_id=uom.id)
        product = self._ensure("product.template", f"{rule.name}_product", product_values, ("list_price",),
                               rule.name, "product", _("the service the migrated rates are prices of"), stats)
        pricelist = self._pricelist(rule, "standard", rule.pricelist_name, product, standard, sum(firm.values()),
                                    stats)
        for partner, counter in sorted(by_partner.items(), key=lambda kv: kv[0].id):
            rate = most_used(counter)
            if rate == standard:
                continue
            own = self._pricelist(rule, f"partner_{partner.id}",
                                  rule.client_pricelist_name.format(partner=partner.name or partner.id),
                                  product, rate, sum(counter.values()), stats)
            if rule.assign_to_partner:
                self._assign(rule, partner, own, stats)
        return pricelist

    def _assign(self, rule, partner, pricelist, stats):
        """``pricelist`` as the pricelist of the customer and of its contacts.  The
        stored company-specific value is written on each of them (old value on its
        line), rather than the computed field whose inverse Odoo passes on to the
        contacts without a trace to undo."""
        Partner = self.env["res.partner"].sudo().with_context(**LOAD_CONTEXT)
        for member in Partner.search([("commercial_partner_id", "=", partner.id)], order="id"):
            current = member.specific_property_product_pricelist
            if current == pricelist:
                continue
            member.write({"specific_property_product_pricelist": pricelist.id})
            self.lines.append(self._line(member, "update", {"specific_property_product_pricelist": current.id or False},
                                         rule.name, f"partner_{partner.id}",
                                         _("given the pricelist of its customer's migrated rates")))
            stats["updated"] += 1

    def _pricelist(self, rule, key, name, product, rate, uses, stats):
        pricelist = self._ensure(
            "product.pricelist", f"{rule.name}_{key}_pricelist",
            {"name": name, "currency_id": self.env.company.currency_id.id}, ("name",), rule.name, key,
            _("pricelist of the most-used rate of %s lines", uses), stats)
        self._ensure(
            "product.pricelist.item", f"{rule.name}_{key}_item",
            {"pricelist_id": pricelist.id, "applied_on": "1_product", "product_tmpl_id": product.id,
             "compute_price": "fixed", "fixed_price": rate}, ("fixed_price",), rule.name, key,
            _("the most-used rate of %s lines", uses), stats)
        return pricelist

    # -- records -----------------------------------------------------------------------
    def _ensure(self, model_name, xml_name, values, compared, source_object, source_id, message, stats):
        """The record under ``module.xml_name``: created with ``values`` when missing,
        its ``compared`` fields brought to ``values`` otherwise."""
        Model = self.env[model_name].sudo().with_context(**LOAD_CONTEXT)
        # the loader's identity steps: a dangling external id is dropped, a new one registered
        record = Model.browse(self.loader._existing(Model, [xml_name]).get(xml_name, []))
        if not record:
            record = Model.create(values)
            self.loader._register_xmlids(Model, [(xml_name, record.id)])
            self.lines.append(self._line(record, "create", False, source_object, source_id, message,
                                         xml_name=xml_name))
            stats["created"] += 1
            return record
        changed = {f: values[f] for f in compared if record[f] != values[f]}
        if changed:
            old = {f: record[f] for f in changed}
            record.write(changed)
            self.lines.append(self._line(record, "update", old, source_object, source_id, message,
                                         xml_name=xml_name))
            stats["updated"] += 1
        return record

    def _line(self, record, operation, old_values, source_object, source_id, message, xml_name=None):
        return {
            "run_id": self.run.id, "map_name": False, "source_object": source_object, "source_id": source_id,
            "row_number": False, "model": record._name, "res_id": record.id,
            "xmlid": f"{self.module}.{xml_name}" if xml_name else False,
            "operation": operation, "old_values": old_values, "message": message, "adopted": False,
            "continuation": True, "sample_trace": False,
        }
