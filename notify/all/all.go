// Package all imports every built-in notifier type so that each registers
// itself.
package all

import (
	_ "github.com/satellite-hq/satellite/notify/alertmanager" // notifier "alertmanager"
	_ "github.com/satellite-hq/satellite/notify/email"        // notifier "email"
	_ "github.com/satellite-hq/satellite/notify/pagerduty"    // notifier "pagerduty"
	_ "github.com/satellite-hq/satellite/notify/slack"        // notifier "slack"
	_ "github.com/satellite-hq/satellite/notify/webhook"      // notifier "webhook"
)
