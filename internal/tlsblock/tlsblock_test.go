package tlsblock

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The http check's and the influxdb sink's tests exercise the block end to
// end against TLS servers; these pin what Config makes of the settings.
func TestConfig(t *testing.T) {
	o := &Options{}
	cfg, err := o.Config("influx.internal:8086")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerName != "influx.internal" || cfg.MinVersion != tls.VersionTLS12 || cfg.InsecureSkipVerify || cfg.RootCAs != nil {
		t.Errorf("defaults: server name %q, min version %x, insecure %v", cfg.ServerName, cfg.MinVersion, cfg.InsecureSkipVerify)
	}

	o = &Options{ServerName: "api", InsecureSkipVerify: true}
	if cfg, err = o.Config("10.0.0.1:443"); err != nil || cfg.ServerName != "api" || !cfg.InsecureSkipVerify {
		t.Errorf("server_name and insecure_skip_verify: %+v, %v", cfg, err)
	}

	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"missing CA file":  {Options{CAFile: filepath.Join(dir, "nope.pem")}, "reading tls.ca_file"},
		"CA file not PEM":  {Options{CAFile: notPEM}, "holds no PEM certificate"},
		"missing key pair": {Options{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}, "reading tls.cert_file"},
		"FIFO CA file":     {Options{CAFile: fifo}, "not a regular file"},
	} {
		if _, err := tc.o.Config("h:1"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
}
