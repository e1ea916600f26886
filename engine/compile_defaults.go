package engine

import "github.com/hashicorp/hcl/v2"

// defaultsSchema is the check meta-arguments that checkMetaArgs lets the
// defaults block set.
var defaultsSchema = &hcl.BodySchema{Attributes: attrSchema(metaArgNames(true)...)}

// compileDefaults builds the template every check instance starts from: the
// meta-arguments' built-in defaults, with the defaults block decoded over
// them by the same decoders as a check's own meta-arguments.
func (c *compiler) compileDefaults() {
	t := &Check{}
	for i := range checkMetaArgs {
		if init := checkMetaArgs[i].init; init != nil {
			init(t)
		}
	}
	c.template = t
	rb := c.cfg.Defaults
	if rb == nil {
		return
	}
	content, diags := rb.Body.Content(defaultsSchema)
	c.diags = append(c.diags, diags...)
	ctx := c.cfg.EvalContext(rb.BaseDir)
	for i := range checkMetaArgs {
		m := &checkMetaArgs[i]
		if a, ok := content.Attributes[m.name]; ok && m.defaults {
			m.decode(c, t, a, ctx)
		}
	}
}
