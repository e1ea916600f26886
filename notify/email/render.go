package email

import (
	htmltemplate "html/template"
	"sort"
	"strings"
	"sync"
	texttemplate "text/template"

	"github.com/satellite-hq/satellite/notify"
)

// view is a message as the templates read it.
type view struct {
	Title    string
	Sender   string
	Notifier string
	ID       string
	Time     string
	Test     bool
	Alerts   []alertView
	More     int
}

type alertView struct {
	// Heading is the severity of a problem in capitals, or RESOLVED or
	// FLAPPING.
	Heading  string
	State    string
	Severity string
	Node     string
	Check    string
	Type     string
	Status   string
	Previous string
	Error    string
	Since    string
	Labels   string
	Blocking string
}

// timeFormat is how times read in a mail: UTC, to the second.
const timeFormat = "2006-01-02 15:04:05 UTC"

func viewOf(m *notify.Message) view {
	v := view{Title: m.Title, Sender: m.Sender, Notifier: m.Notifier, ID: m.ID, Test: m.Test, More: m.More}
	if !m.Time.IsZero() {
		v.Time = m.Time.UTC().Format(timeFormat)
	}
	for _, a := range m.Alerts {
		av := alertView{State: a.State, Severity: a.Severity, Node: a.Node, Check: a.Check, Type: a.Type,
			Status: a.Status, Previous: a.Previous, Error: a.Error, Blocking: strings.Join(a.Blocking, ", ")}
		switch a.State {
		case notify.StateProblem:
			av.Heading = strings.ToUpper(a.Severity)
		default:
			av.Heading = strings.ToUpper(a.State)
		}
		if !a.Since.IsZero() {
			av.Since = a.Since.UTC().Format(timeFormat)
		}
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + a.Labels[k]
		}
		av.Labels = strings.Join(pairs, ", ")
		v.Alerts = append(v.Alerts, av)
	}
	return v
}

// indent puts the lines after the first of a multi-line error under it.
func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n            ") }

// The templates are parsed on first use, not at init: most agents send
// no mail, and no command but the agent does.
var textTmpl = sync.OnceValue(func() *texttemplate.Template {
	return texttemplate.Must(texttemplate.New("text").Funcs(texttemplate.FuncMap{"indent": indent}).Parse(
		`{{.Title}}
{{if .Test}}
This is a test message: satellite can reach you through this notifier.
{{end}}{{range .Alerts}}
{{.Heading}}: {{.Check}} on {{.Node}}
  state:    {{.State}}{{if .Severity}}, severity {{.Severity}}{{end}}
  status:   {{.Status}}{{if .Previous}} (was {{.Previous}}){{end}}
{{- if .Error}}
  error:    {{indent .Error}}{{end}}
{{- if .Since}}
  since:    {{.Since}}{{end}}
{{- if .Type}}
  type:     {{.Type}}{{end}}
{{- if .Labels}}
  labels:   {{.Labels}}{{end}}
{{- if .Blocking}}
  blocking: {{.Blocking}}{{end}}
{{end}}{{if .More}}
... and {{.More}} more alerts, not listed.
{{end}}
-- 
Sent by satellite on {{.Sender}}{{if .Time}} at {{.Time}}{{end}} (notifier {{.Notifier}}, message {{.ID}}).
`))
})

var htmlTmpl = sync.OnceValue(func() *htmltemplate.Template {
	return htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; font-size: 14px; color: #222;">
<p style="font-size: 16px; font-weight: bold;">{{.Title}}</p>
{{- if .Test}}
<p>This is a test message: satellite can reach you through this notifier.</p>
{{- end}}
{{- if .Alerts}}
<table cellpadding="6" cellspacing="0" style="border-collapse: collapse; border: 1px solid #ccc;">
<tr style="background: #eee; text-align: left;"><th>state</th><th>check</th><th>node</th><th>since</th><th>error</th><th>labels</th><th>blocking</th></tr>
{{- range .Alerts}}
<tr style="border-top: 1px solid #ccc; vertical-align: top;">
<td><b>{{.Heading}}</b><br>{{.State}}{{if .Severity}} ({{.Severity}}){{end}}<br><small>check {{.Status}}{{if .Previous}}, was {{.Previous}}{{end}}</small></td>
<td>{{.Check}}{{if .Type}}<br><small>{{.Type}}</small>{{end}}</td>
<td>{{.Node}}</td>
<td>{{.Since}}</td>
<td style="white-space: pre-wrap; font-family: monospace;">{{.Error}}</td>
<td>{{.Labels}}</td>
<td>{{.Blocking}}</td>
</tr>
{{- end}}
</table>
{{- end}}
{{- if .More}}
<p>&hellip; and {{.More}} more alerts, not listed.</p>
{{- end}}
<p style="color: #777; font-size: 12px;">Sent by satellite on {{.Sender}}{{if .Time}} at {{.Time}}{{end}} (notifier {{.Notifier}}, message {{.ID}}).</p>
</body>
</html>
`))
})

// render is the plain-text and the HTML part of m.
func render(m *notify.Message) (string, string, error) {
	v := viewOf(m)
	var text, html strings.Builder
	if err := textTmpl().Execute(&text, v); err != nil {
		return "", "", err
	}
	if err := htmlTmpl().Execute(&html, v); err != nil {
		return "", "", err
	}
	return text.String(), html.String(), nil
}
