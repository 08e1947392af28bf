/** @odoo-module **/
/*
 * The run's progress bar, refreshing itself while the run's jobs work: every few
 * seconds, while the record's state is "running" (or another of the widget's
 * live_states) and the form holds no unsaved change, the record is read again,
 * so the progress, the per-object counts and the waiting-for-a-worker warning
 * move without the admin reloading the page.  It stops when the run leaves
 * those states or the form closes.
 */
import { registry } from "@web/core/registry";
import { useEffect } from "@odoo/owl";
import {
    ProgressBarField,
    progressBarField,
} from "@web/views/fields/progress_bar/progress_bar_field";

export class LiveProgressBarField extends ProgressBarField {
    static props = {
        ...ProgressBarField.props,
        liveStates: { type: Array, optional: true },
        stateField: { type: String, optional: true },
        interval: { type: Number, optional: true },
    };

    setup() {
        super.setup();
        useEffect(
            (live) => {
                if (!live) {
                    return;
                }
                const timer = setInterval(() => this.refresh(), this.props.interval || 2000);
                return () => clearInterval(timer);
            },
            () => [this.isLive]
        );
    }

    get isLive() {
        const state = this.props.record.data[this.props.stateField || "state"];
        return (this.props.liveStates || ["running"]).includes(state);
    }

    async refresh() {
        const record = this.props.record;
        if (this.refreshing || record.isNew || record.dirty || document.hidden) {
            return;
        }
        this.refreshing = true;
        try {
            await record.load();
        } finally {
            this.refreshing = false;
        }
    }
}

export const liveProgressBarField = {
    ...progressBarField,
    component: LiveProgressBarField,
    extractProps(fieldInfo, dynamicInfo) {
        const { options } = fieldInfo;
        return {
            ...progressBarField.extractProps(fieldInfo, dynamicInfo),
            liveStates: options.live_states,
            stateField: options.state_field,
            interval: options.interval,
        };
    },
};

registry.category("fields").add("flitstack_live_progressbar", liveProgressBarField);
