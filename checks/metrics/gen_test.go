package metrics

import (
	"bytes"
	"fmt"
	"strconv"
)

// apiserverBody writes an exposition shaped like a busy kube-apiserver's:
// many histogram families with many labelled series, counters and gauges,
// until it is at least size bytes. scrape shifts every count, so that two
// bodies of different scrapes have bucket deltas.
func apiserverBody(size, scrape int) []byte {
	var b bytes.Buffer
	verbs := []string{"GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE", "APPLY"}
	resources := []string{"pods", "nodes", "services", "endpoints", "configmaps", "secrets", "deployments", "replicasets",
		"leases", "events", "namespaces", "serviceaccounts", "daemonsets", "statefulsets", "jobs", "cronjobs"}
	bounds := []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60}
	fam := 0
	for b.Len() < size {
		name := "apiserver_request_duration_seconds"
		if fam > 0 {
			name = fmt.Sprintf("apiserver_family_%d_duration_seconds", fam)
		}
		fmt.Fprintf(&b, "# HELP %s Response latency distribution in seconds for each verb, resource and subresource.\n# TYPE %s histogram\n", name, name)
		for _, verb := range verbs {
			for ri, res := range resources {
				labels := fmt.Sprintf(`component="apiserver",dry_run="",group="",resource=%q,scope="cluster",subresource="",verb=%q,version="v1"`, res, verb)
				var cum uint64
				for i, le := range bounds {
					cum += uint64((i+1)*(ri+1)) * uint64(scrape+1)
					fmt.Fprintf(&b, "%s_bucket{%s,le=%q} %d\n", name, labels, strconv.FormatFloat(le, 'g', -1, 64), cum)
				}
				cum += uint64(scrape + 1)
				fmt.Fprintf(&b, "%s_bucket{%s,le=\"+Inf\"} %d\n%s_sum{%s} %g\n%s_count{%s} %d\n", name, labels, cum, name, labels, float64(cum)*0.12, name, labels, cum)
			}
		}
		fmt.Fprintf(&b, "# HELP apiserver_requests_%d_total Counter of apiserver requests.\n# TYPE apiserver_requests_%d_total counter\n", fam, fam)
		for _, verb := range verbs {
			for _, code := range []string{"200", "201", "404", "409", "500"} {
				fmt.Fprintf(&b, "apiserver_requests_%d_total{code=%q,verb=%q} %d\n", fam, code, verb, 1000*(scrape+1))
			}
		}
		fmt.Fprintf(&b, "# TYPE apiserver_inflight_%d gauge\napiserver_inflight_%d{kind=\"mutating\"} 3\napiserver_inflight_%d{kind=\"readOnly\"} 7\n", fam, fam, fam)
		fam++
	}
	return b.Bytes()
}
