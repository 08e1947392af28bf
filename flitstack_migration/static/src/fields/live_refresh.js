/** @odoo-module **/
/*
 * Forms that follow their background jobs: every few seconds, while the record's
 * state field holds one of the live states and the form holds no unsaved change,
 * the record is read again, so what the jobs did shows without the admin
 * reloading the page.  It stops when the state leaves those values or the form
 * closes.
 *
 *  - flitstack_live_progressbar: the run's progress bar (state "running");
 *  - <widget name="flitstack_live_refresh" options="{'state_field': 'quality_state'}"/>:
 *    the same refresh with nothing drawn, for the connection while its data-quality
 *    check runs.
 */
import { registry } from "@web/core/registry";
import { Component, useEffect } from "@odoo/owl";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import {
    ProgressBarField,
    progressBarField,
} from "@web/views/fields/progress_bar/progress_bar_field";

/**
 * Reload ``getRecord()`` every ``interval`` ms while ``isLive()`` is true.
 */
export function useLiveRecord(getRecord, isLive, interval = 2000) {
    let refreshing = false;
    async function refresh() {
        const record = getRecord();
        if (refreshing || record.isNew || record.dirty || document.hidden) {
            return;
        }
        refreshing = true;
        try {
            await record.load();
        } finally {
            refreshing = false;
        }
    }
    useEffect(
        (live) => {
            if (!live) {
                return;
            }
            const timer = setInterval(refresh, interval);
            return () => clearInterval(timer);
        },
        () => [isLive()]
    );
}

const liveProps = {
    liveStates: { type: Array, optional: true },
    stateField: { type: String, optional: true },
    interval: { type: Number, optional: true },
};

function extractLiveProps(options) {
    return {
        liveStates: options.live_states,
        stateField: options.state_field,
        interval: options.interval,
    };
}

function isLive(props) {
    const state = props.record.data[props.stateField || "state"];
    return (props.liveStates || ["running"]).includes(state);
}

export class LiveProgressBarField extends ProgressBarField {
    static props = { ...ProgressBarField.props, ...liveProps };

    setup() {
        super.setup();
        useLiveRecord(() => this.props.record, () => isLive(this.props), this.props.interval);
    }
}

export const liveProgressBarField = {
    ...progressBarField,
    component: LiveProgressBarField,
    extractProps(fieldInfo, dynamicInfo) {
        return {
            ...progressBarField.extractProps(fieldInfo, dynamicInfo),
            ...extractLiveProps(fieldInfo.options),
        };
    },
};

export class LiveRefreshWidget extends Component {
    static template = "flitstack_migration.LiveRefreshWidget";
    static props = { ...standardWidgetProps, ...liveProps };

    setup() {
        useLiveRecord(() => this.props.record, () => isLive(this.props), this.props.interval);
    }
}

export const liveRefreshWidget = {
    component: LiveRefreshWidget,
    extractProps: ({ options }) => extractLiveProps(options),
};

registry.category("fields").add("flitstack_live_progressbar", liveProgressBarField);
registry.category("view_widgets").add("flitstack_live_refresh", liveRefreshWidget);
