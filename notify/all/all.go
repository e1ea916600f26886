// Package all imports every built-in notifier type so that each registers
// itself.
package all

import (
	_ "github.com/satellite-hq/satellite/notify/webhook" // notifier "webhook"
)
