// Package all imports every built-in sink type so that each registers itself.
package all

import (
	_ "github.com/satellite-hq/satellite/sinks/sqlite" // sink "sqlite"
)
