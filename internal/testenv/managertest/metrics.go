package managertest

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metric sums the samples of a metric of controller-runtime's registry
// (the partnerops_ metrics and controller-runtime's own) whose labels
// include the given ones, over every manager this test process ran:
// counters and gauges by value, histograms by their count of samples.
func Metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	return Sum(Series(t, name, labels))
}

// Sum adds up series: counters and gauges by value, histograms by their
// count of samples.
func Sum(series []*dto.Metric) float64 {
	sum := 0.0
	for _, m := range series {
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// Series are the series of a metric of controller-runtime's registry whose
// labels include the given ones (none: the metric is not exported, or not
// with those labels).
func Series(t testing.TB, name string, labels map[string]string) []*dto.Metric {
	t.Helper()
	out, err := Find(name, labels)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Find is Series for a program that has no testing.TB (make bench-system).
func Find(name string, labels map[string]string) ([]*dto.Metric, error) {
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		return nil, err
	}
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// Reconciles is controller_runtime_reconcile_total of controller
// ("partnerinvitation", "partneraccount").
func Reconciles(t testing.TB, controller string) float64 {
	t.Helper()
	return Metric(t, "controller_runtime_reconcile_total", map[string]string{"controller": controller})
}

func hasLabels(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
