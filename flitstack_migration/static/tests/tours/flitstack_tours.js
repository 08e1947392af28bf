/** @odoo-module **/
/*
 * The administrator's flow, clicked through in a real browser (tests/test_tours.py).
 *
 * Each tour is one stretch of the flow between two moments where queue_job's job
 * runner would work: the Python test performs the waiting jobs in between, as the
 * runner does, then starts the next tour on the record it reached.  Every step
 * waits for a button, a notification or a sentence of the form: a step whose
 * button or message disappears fails the tour.
 *
 * What differs per run (the export's path, the emulated Clio's address, record
 * ids) comes from the test in sessionStorage["flitstack_tour"], which survives
 * the OAuth redirect through Clio's authorize page.
 */
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

const tours = registry.category("web_tour.tours");

function data() {
    return JSON.parse(sessionStorage.getItem("flitstack_tour") || "{}");
}

function notified(title) {
    return {
        content: `notification "${title}"`,
        trigger: `.o_notification:has(.o_notification_title:contains("${title}"))`,
    };
}

function click(name, content) {
    return { content: content || `press ${name}`, trigger: `.o_form_view button[name="${name}"]`, run: "click" };
}

function confirmDialog() {
    return { content: "confirm", trigger: ".modal-footer .btn-primary", run: "click" };
}

function tab(label) {
    return { content: `open tab ${label}`, trigger: `.o_notebook_headers a:contains("${label}")`, run: "click" };
}

function status(label) {
    return {
        content: `status is ${label}`,
        trigger: `.o_statusbar_status button.o_arrow_button_current:contains("${label}")`,
    };
}

function flowStep(label) {
    return {
        content: `the guided flow is at ${label}`,
        trigger: `div[name=flow] .o_statusbar_status button.o_arrow_button_current:contains("${label}")`,
    };
}

function flowNext(label, content) {
    return {
        content: content || `the flow's next action: ${label}`,
        trigger: `div[name=flow] button.btn-primary[name=action_flow_next]:contains("${label}")`,
        run: "click",
    };
}

function flowDone(text) {
    return { content: `the flow says what was done: ${text}`, trigger: `div[name=flow_done]:contains("${text}")` };
}

/**
 * Where the README's screenshots are taken (only when the test asks for them, FLITSTACK_SCREENSHOTS):
 * the test's browser driver saves the page when the tour logs the name, the tour gives it a moment.
 */
function screenshot(name, scrollTo) {
    return {
        content: `screenshot ${name}`,
        trigger: scrollTo || "body",
        async run() {
            if (!data().screenshots) {
                return;
            }
            if (scrollTo) {
                document.querySelector(scrollTo).scrollIntoView({ block: "start" });
            }
            await new Promise((resolve) => setTimeout(resolve, 700));
            console.log(`flitstack-screenshot ${name}`);
            await new Promise((resolve) => setTimeout(resolve, 1300));
        },
    };
}

function breadcrumb(text) {
    return { content: `back to ${text}`, trigger: `.breadcrumb-item a:contains("${text}")`, run: "click" };
}

function openConnections() {
    return [
        stepUtils.showAppsMenuItem(),
        {
            content: "FlitStack Migration is under Settings",
            trigger: ".o_app[data-menu-xmlid='base.menu_administration']",
            run: "click",
        },
        {
            trigger: ".o_menu_sections [data-menu-xmlid='flitstack_migration.menu_flitstack_root']",
            run: "click",
        },
        {
            trigger: "[data-menu-xmlid='flitstack_migration.menu_flitstack_connection']",
            run: "click",
        },
        { content: "new connection", trigger: ".o_list_button_add", run: "click" },
    ];
}

// -- clinic CSV export -------------------------------------------------------------------
tours.add("flitstack_clinic_connect", {
    steps: () => [
        ...openConnections(),
        { trigger: ".o_field_widget[name=name] input", run: "edit Riverside Clinic export" },
        { trigger: ".o_field_widget[name=kind] select", run: "selectByLabel Clinic system" },
        {
            trigger: ".o_field_widget[name=export_path] input",
            run(helpers) {
                return helpers.edit(data().export_path);
            },
        },
        flowStep("Connect"),
        flowNext("Discover objects", "the flow's one primary button: Discover objects saves the connection and reads the export"),
        notified("Objects discovered"),
        { trigger: ".o_field_widget[name=discovery_summary]:contains(patients)" },
        status("Connected"),
        flowStep("Data quality"),
        flowDone("Discovered"),
        screenshot("01-connection-guided-flow"),
        {
            content: "no run before a confirmed map: the form says what to do instead",
            trigger: ".o_form_view:not(:has(button[name=action_new_run])) div[name=map_to_confirm]:contains(Runs start from a confirmed map)",
        },
        tab("Data quality"),
        { trigger: ".o_notebook p:contains(Not checked yet)" },
        flowNext("Check data quality"),
        notified("Data-quality check queued"),
        { trigger: ".o_field_widget[name=quality_summary]:contains(The check is running)" },
        { content: "while it runs the flow says so", trigger: "div[name=flow_next]:contains(The check is running)" },
    ],
});

tours.add("flitstack_clinic_map", {
    steps: () => [
        {
            content: "the check ran: its findings are counted",
            trigger: "button[name=action_view_quality_findings]:contains(Findings)",
        },
        tab("Source staff"),
        {
            content: "a clinic export has no staff to match: no staff buttons, and the tab says why",
            trigger: ".o_form_view:not(:has(button[name=action_sync_staff])) p[name=no_staff_source]:contains(there is no staff to match)",
        },
        flowStep("Map"),
        flowDone("Data quality checked"),
        flowNext("Propose map", "Propose map reads the export and proposes where each field lands"),
        { content: "the proposed map", trigger: ".o_form_view .o_field_widget[name=name] input:value(proposed)" },
        {
            content: "the rows are grouped by object map, named for people",
            trigger: ".o_field_widget[name=object_ids] .o_data_row td[name=label]:contains(Practitioner → Contact)",
        },
        { content: "a legend says what the colours mean", trigger: "div[name=legend]:contains(Blue rows):contains(Review)" },
        screenshot("02-map-object-maps", ".o_notebook"),
        {
            content: "review the rows of the patients' contacts",
            trigger: ".o_field_widget[name=object_ids] .o_data_row:has(td[name=label]:contains(Patient partner → Contact)) button[name=action_view_lines]",
            run: "click",
        },
        {
            content: "the patients' notes are left out of their contact, marked for review",
            trigger: ".o_data_row:has(td[name=source_path]:contains(/^notes$/)):has(button[name=action_restore]) td[name=confidence_band]:contains(Review)",
        },
        {
            content: "pick the contact's field for them",
            trigger: ".o_data_row:has(td[name=source_path]:contains(/^notes$/)) td[name=target_field_id]",
            run: "click",
        },
        { trigger: ".o_data_row.o_selected_row td[name=target_field_id] input", run: "edit Notes" },
        { content: "among the contact's fields", trigger: ".o-autocomplete--dropdown-item a:contains(/^Notes$/)", run: "click" },
        { content: "save the row", trigger: ".o_list_button_save", run: "click" },
        {
            content: "the row now lands in the contact's notes, and is mapped",
            trigger: ".o_data_row:has(td[name=source_path]:contains(/^notes$/)):not(:has(button[name=action_restore])) td[name=target_label]:contains(Notes)",
        },
        screenshot("03-map-rows-field-picker"),
        breadcrumb("map"),
        tab("Value maps"),
        {
            content: "value maps are rows: a completed appointment lands in the Won stage",
            trigger: ".o_field_widget[name=value_ids] .o_data_row:has(td[name=source_value]:contains(completed)) td[name=target_label]:contains(Won)",
        },
        screenshot("04-map-value-maps", ".o_notebook"),
        tab("Specification"),
        { content: "the specification says what the map does", trigger: ".o_field_widget[name=spec_summary]:contains(Patient partner → Contact)" },
        click("action_provision_fields"),
        notified("Fields provisioned"),
        click("action_confirm"),
        notified("Map confirmed"),
        status("Confirmed"),
        { content: "no longer named proposed", trigger: ".o_form_view .o_field_widget[name=name] input:not(:value(proposed))" },
        breadcrumb("Riverside Clinic export"),
        flowStep("Pre-flight"),
        flowDone("No staff to match"),
        flowNext("Pre-flight", "pre-flight of the confirmed map"),
        notified("Pre-flight done"),
        flowStep("Sample"),
        flowNext("Start a sample", "a sample of 20 records per object map lands in the request"),
        notified("Sample landed"),
        { content: "the notification opens the sample", trigger: ".o_form_view .o_field_widget[name=mode]:contains(Sample)" },
        status("Done"),
        click("action_field_diff", "compare the sample with the source, field by field"),
        { content: "the field diff", trigger: ".o_list_view .o_group_header:contains(clinic_patient_partner)" },
        screenshot("05-sample-field-diff"),
        breadcrumb("Sample"),
        breadcrumb("Riverside Clinic export"),
        flowStep("Full run"),
        flowDone("Sample landed"),
        flowNext("Start the full run"),
        notified("Full run started"),
        { content: "the notification opens the full run", trigger: ".o_form_view .o_field_widget[name=mode]:contains(Full)" },
        status("Running"),
        { content: "its jobs wait for a worker", trigger: ".o_field_widget[name=job_summary]:contains(pending)" },
    ],
});

function reconciliationAndRollback(connection, firstMap, delta) {
    return [
        flowStep("Reconciliation"),
        flowDone("Full run done"),
        ...(delta ? [screenshot("06-flow-reconciliation")] : []),
        flowNext("Open the reconciliation"),
        status("Done"),
        { content: "every object map reconciles", trigger: ".o_field_widget[name=reconciled] input:checked" },
        { trigger: `.o_field_widget[name=object_ids] .o_data_row td[name=map_name]:contains(${firstMap})` },
        ...(delta ? [screenshot("07-run-reconciled", ".o_field_widget[name=object_ids]")] : []),
        {
            content: "the audit lines of the run",
            trigger: ".o_form_view button[name=action_view_audit_lines]",
            run: "click",
        },
        { trigger: ".o_list_view .o_group_header:contains(create)" },
        breadcrumb("Full"),
        { content: "the report is one click away", trigger: "button[name=action_print_reconciliation]" },
        {
            content: "the reconciliation report names the object maps and their counts",
            trigger: "body",
            async run() {
                const answer = await fetch(`/report/html/flitstack_migration.report_flitstack_run/${data().run_id}`);
                const html = await answer.text();
                for (const expected of ["Reconciliation of", firstMap]) {
                    if (answer.status !== 200 || !html.includes(expected)) {
                        throw new Error(`the reconciliation report lacks "${expected}" (HTTP ${answer.status})`);
                    }
                }
            },
        },
        breadcrumb(connection),
        flowStep("Delta schedule"),
        flowDone("Reconciliation read"),
        ...(delta
            ? [flowNext("Pick up changes on schedule"), notified("Changes picked up on schedule")]
            : [{ content: "no delta schedule", trigger: "div[name=flow] button[name=action_flow_skip]:contains(Go on without it)", run: "click" }]),
        flowStep("Rollback"),
        {
            content: "roll the full run back from the flow",
            trigger: "div[name=flow] button[name=action_flow_next]:contains(Roll back the full run)",
            run: "click",
        },
        confirmDialog(),
        notified("Rollback queued"),
        status("Rolling back"),
    ];
}

tours.add("flitstack_clinic_done", {
    steps: () => reconciliationAndRollback("Riverside Clinic export", "clinic_patient", true),
});

tours.add("flitstack_clio_done", {
    steps: () => reconciliationAndRollback("Smith & Lee Clio", "clio_matter", false),
});

tours.add("flitstack_run_rolled_back", {
    steps: () => [
        status("Rolled back"),
        { trigger: ".o_form_view:not(:has(button[name=action_rollback]))" },
    ],
});

// -- a run with no job runner ----------------------------------------------------------
tours.add("flitstack_stuck_run", {
    steps: () => [
        status("Running"),
        {
            content: "the form says no worker takes the jobs, and what to add to the server's configuration",
            trigger: ".alert-warning:contains(Waiting for a worker):contains(server_wide_modules = base,web,queue_job)",
        },
        screenshot("08-run-waiting-for-a-worker"),
        click("action_cancel"),
        confirmDialog(),
        notified("Run cancelled"),
        status("Cancelled"),
        { trigger: ".alert-info:contains(This run was cancelled)" },
        { content: "what landed can be rolled back", trigger: "button[name=action_rollback]" },
        { content: "no more waiting", trigger: ".o_form_view:not(:has(.alert-warning:contains(Waiting for a worker)))" },
    ],
});

function performJobsOnThisPage() {
    return {
        content: "the job runner performs the waiting jobs while the form stays open",
        trigger: ".o_form_view",
        async run() {
            window.flitstackSamePage = true;
            await rpc("/flitstack_test/perform_jobs", {});
        },
    };
}

function samePage() {
    return {
        content: "the page was never reloaded",
        trigger: ".o_form_view",
        run() {
            if (!window.flitstackSamePage) {
                throw new Error("the form was reloaded: it did not update live");
            }
        },
    };
}

// -- the connection follows its data-quality check live ---------------------------------------
tours.add("flitstack_quality_live", {
    steps: () => [
        { content: "the check is running", trigger: ".o_form_view button[name=action_quality_cancel]" },
        performJobsOnThisPage(),
        {
            content: "the check's findings appear on the same page",
            trigger: "button[name=action_view_quality_findings]:contains(Findings)",
            timeout: 30000,
        },
        { content: "no check to cancel any more", trigger: ".o_form_view:not(:has(button[name=action_quality_cancel]))" },
        samePage(),
    ],
});

// -- the run form follows its jobs live: the jobs run, the page is not reloaded --------------
tours.add("flitstack_run_live_progress", {
    steps: () => [
        status("Running"),
        { content: "nothing loaded yet", trigger: ".o_field_widget[name=progress] .o_progress[aria-valuenow='0']" },
        performJobsOnThisPage(),
        {
            content: "the progress reaches 100% on the same page",
            trigger: ".o_field_widget[name=progress] .o_progress[aria-valuenow='100']",
            timeout: 30000,
        },
        status("Done"),
        {
            content: "the object's counts moved too: 10 patients read and created",
            trigger: "div[name=object_ids] tr.o_data_row:has(td[name=map_name]:contains(clinic_patient_partner)):has(td[name=read_count]:contains(10)):has(td[name=created_count]:contains(10))",
        },
        samePage(),
    ],
});

// -- the emulated Clio, through its OAuth sign-in ---------------------------------------------
tours.add("flitstack_clio_connect", {
    steps: () => [
        ...openConnections(),
        { trigger: ".o_field_widget[name=name] input", run: "edit Smith & Lee Clio" },
        { trigger: ".o_field_widget[name=kind] select:value(clio)" },
        {
            trigger: ".o_field_widget[name=base_url] input",
            run(helpers) {
                return helpers.edit(data().base_url);
            },
        },
        {
            trigger: ".o_field_widget[name=client_id] input",
            run(helpers) {
                return helpers.edit(data().client_id);
            },
        },
        {
            trigger: ".o_field_widget[name=client_secret] input",
            run(helpers) {
                return helpers.edit(data().client_secret);
            },
        },
        {
            content: "no discovery before the sign-in",
            trigger: ".o_form_view:not(:has(button[name=action_test_connection]))",
        },
        {
            content: "sign in at Clio: the browser goes to Clio's authorize page and comes back",
            trigger: ".o_form_view button[name=action_clio_authorize]",
            run: "click",
        },
        { content: "back from Clio, connected", trigger: ".o_form_view " + ".o_statusbar_status button.o_arrow_button_current:contains(Connected)" },
        { trigger: ".o_field_widget[name=discovery_summary]:contains(matters)" },
        tab("Source staff"),
        click("action_sync_staff", "Clio's users own matters: match them to Odoo users"),
        notified("Staff refreshed"),
        { trigger: ".o_field_widget[name=staff_ids] .o_data_row td[name=match]:contains(Unmatched)" },
        click("action_propose_map"),
        { trigger: ".o_field_widget[name=object_ids] .o_data_row td[name=label]:contains(Practice area → )" },
        click("action_provision_fields"),
        notified("Fields provisioned"),
        click("action_confirm"),
        notified("Map confirmed"),
        click("action_preflight", "pre-flight asks for a fallback owner"),
        notified("Pre-flight done"),
        { content: "the form says a problem stops the run", trigger: ".alert-danger:contains(Pre-flight found)" },
        tab("Pre-flight"),
        { trigger: ".o_notebook_headers a.active:contains(Pre-flight)" },
        {
            trigger: ".o_field_widget[name=finding_ids] .o_data_row:contains(fallback owner)",
        },
        breadcrumb("Smith & Lee Clio"),
        {
            content: "choose the fallback owner",
            trigger: ".o_field_widget[name=fallback_user_id] input",
            run: "edit Fallback",
        },
        { trigger: ".o-autocomplete--dropdown-item a:contains(Fallback Owner)", run: "click" },
        { content: "save", trigger: ".o_form_button_save", run: "click" },
        { trigger: ".o_form_saved" },
        click("action_new_run"),
        { trigger: ".o_field_widget[name=mode] select:value(sample)" },
        { trigger: ".o_field_widget[name=sample_size] input", run: "edit 5" },
        click("action_start"),
        notified("Sample landed"),
        status("Done"),
        click("action_field_diff"),
        { trigger: ".o_list_view .o_group_header:contains(clio_matter)" },
        breadcrumb("Sample"),
        breadcrumb("Smith & Lee Clio"),
        click("action_new_run"),
        { trigger: ".o_field_widget[name=mode] select:value(full)" },
        click("action_start"),
        status("Running"),
    ],
});
