// Package all imports every built-in sink type so that each registers itself.
package all

import (
	_ "github.com/satellite-hq/satellite/sinks/influxdb" // sink "influxdb"
	_ "github.com/satellite-hq/satellite/sinks/plugin"   // sink "plugin"
	_ "github.com/satellite-hq/satellite/sinks/sqlite"   // sink "sqlite"
)
