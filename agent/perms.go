package agent

import (
	"path/filepath"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/internal/fileperm"
)

// warnPermissions logs a warning for each secret file (the API tokens, the
// gossip key) that others may read, and for a data dir open to others. It
// runs once the data dir exists; it never stops the agent.
func (a *Agent) warnPermissions(cfg *dsl.Config) {
	var warnings []string
	add := func(w string) {
		if w != "" {
			warnings = append(warnings, w)
		}
	}
	add(fileperm.Secret(cfg.API.TokenFile, "api.token_file"))
	add(fileperm.Secret(cfg.API.ReadTokenFile, "api.read_token_file"))
	if mc := cfg.Mesh; mc != nil {
		if mc.EncryptKeyFile != "" {
			add(fileperm.Secret(keyFilePath(mc), "mesh.encrypt_key_file"))
		}
		if mc.TLS != nil {
			add(fileperm.Secret(mc.TLS.KeyFile, "mesh.tls.key_file"))
		}
	}
	if t := cfg.API.TLS; t != nil {
		add(fileperm.Secret(t.KeyFile, "api.tls.key_file"))
	}
	add(fileperm.DataDir(cfg.Agent.DataDir))
	for _, w := range warnings {
		a.log.Warn("permissions: " + w)
	}
}

// keyFilePath is the gossip key file's path, relative ones against the
// folder of the file that declared the mesh block.
func keyFilePath(mc *dsl.Mesh) string {
	path := mc.EncryptKeyFile
	if !filepath.IsAbs(path) && mc.DeclRange.Filename != "" {
		path = filepath.Join(filepath.Dir(mc.DeclRange.Filename), path)
	}
	return path
}
