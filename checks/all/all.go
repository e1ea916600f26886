// Package all imports every built-in check type, so that each registers
// itself. Add one line per type.
package all

import (
	_ "github.com/satellite-hq/satellite/checks/clock"        // clock
	_ "github.com/satellite-hq/satellite/checks/container"    // container
	_ "github.com/satellite-hq/satellite/checks/disk"         // disk
	_ "github.com/satellite-hq/satellite/checks/disklatency"  // disk_latency
	_ "github.com/satellite-hq/satellite/checks/dns"          // dns
	_ "github.com/satellite-hq/satellite/checks/exec"         // exec
	_ "github.com/satellite-hq/satellite/checks/file"         // file
	_ "github.com/satellite-hq/satellite/checks/heartbeat"    // heartbeat
	_ "github.com/satellite-hq/satellite/checks/http"         // http
	_ "github.com/satellite-hq/satellite/checks/kernelmodule" // kernel_module
	_ "github.com/satellite-hq/satellite/checks/load"         // load
	_ "github.com/satellite-hq/satellite/checks/memory"       // memory
	_ "github.com/satellite-hq/satellite/checks/metrics"      // metrics
	_ "github.com/satellite-hq/satellite/checks/peers"        // peers
	_ "github.com/satellite-hq/satellite/checks/process"      // process
	_ "github.com/satellite-hq/satellite/checks/sysctl"       // sysctl
	_ "github.com/satellite-hq/satellite/checks/systemd"      // systemd
	_ "github.com/satellite-hq/satellite/checks/tcp"          // tcp
	_ "github.com/satellite-hq/satellite/checks/tls"          // tls
)
