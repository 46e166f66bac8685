package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"flowscape/landscape"
)

// Answers in the shapes Prometheus 2.42 gives (recorded from the real
// server of the integration test, trimmed).
const (
	vectorAnswer = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cpu":"0","instance":"127.0.0.1:19100","job":"node"},"value":[1700000000.123,"12.5"]},{"metric":{"cpu":"1","instance":"127.0.0.1:19100","job":"node"},"value":[1700000000.123,"NaN"]}]}}`
	matrixAnswer = `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"device":"eth0","instance":"127.0.0.1:19100"},"values":[[1700000000,"1"],[1700000002,"2"],[1700000004,"+Inf"]]}]}}`
	scalarAnswer = `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}`
	errorAnswer  = `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected <EOF>"}`
)

var parseTests = []struct {
	name    string
	body    string
	want    int // series
	wantErr string
}{
	{"vector", vectorAnswer, 2, ""},
	{"matrix", matrixAnswer, 1, ""},
	{"scalar", scalarAnswer, 1, ""},
	{"empty vector", `{"status":"success","data":{"resultType":"vector","result":[]}}`, 0, ""},
	{"error answer", errorAnswer, 0, "bad_data: invalid parameter"},
	{"html", "<html><body>502 Bad Gateway</body></html>", 0, "not a Prometheus API answer: invalid character '<' looking for beginning of value at byte 1"},
	{"truncated", vectorAnswer[:60], 0, "not a Prometheus API answer: unexpected end of JSON input"},
	{"string result", `{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`, 0, `type "string"`},
	{"value not a string", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}`, 0, "value 2 is not a string"},
	{"value not a number", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}`, 0, `value "x" is not a number`},
	{"short pair", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1]]}]}}`, 0, "result 0, value 0: a value has 1 parts"},
	{"bad status", `{"status":"maybe"}`, 0, `status "maybe"`},
	{"data of the wrong type", `{"status":"success","data":[1]}`, 0, "data: json: cannot unmarshal array"},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("Parse = %d series, %v; want %d", len(got), err, tt.want)
			}
		})
	}
	got, _ := Parse([]byte(vectorAnswer))
	if got[0].Labels["cpu"] != "0" || got[0].Points[0] != (Point{1700000000123, 12.5}) || !math.IsNaN(got[1].Points[0].V) {
		t.Errorf("vector: %+v", got)
	}
	got, _ = Parse([]byte(matrixAnswer))
	if p := got[0].Points; len(p) != 3 || p[1] != (Point{1700000002000, 2}) || !math.IsInf(p[2].V, 1) {
		t.Errorf("matrix: %+v", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := Parse(body)
		if err == nil {
			for _, x := range s {
				if x.Labels == nil {
					t.Fatal("nil labels")
				}
			}
		}
	})
}

func TestKeysAndSamples(t *testing.T) {
	q := Query{Metric: "mem", Keys: nodeKeys}
	series := []Series{
		{Labels: map[string]string{"nodename": "box", "instance": "10.0.0.1:9100"}, Points: []Point{{1, 1}}},
		{Labels: map[string]string{"instance": "h2:9100"}, Points: []Point{{1, 2}, {2, 3}}},
		{Labels: map[string]string{"instance": "[::1]:9100"}, Points: []Point{{1, 4}}},
		{Labels: map[string]string{"job": "x"}, Points: []Point{{1, 5}}},
	}
	got, unkeyed := q.Samples(series)
	if unkeyed != 1 || len(got) != 4 {
		t.Fatalf("Samples = %+v, %d unkeyed", got, unkeyed)
	}
	want := []string{"box", "h2", "h2", "::1"}
	for i, s := range got {
		if s.Key != (landscape.JoinKey{Kind: landscape.KeyHostname, Value: want[i]}) || s.Metric != "mem" {
			t.Errorf("sample %d = %+v, want hostname=%s", i, s, want[i])
		}
	}
}

func TestClientFailures(t *testing.T) {
	ctx := context.Background()
	handler := func(status int, body string, delay time.Duration) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-r.Context().Done():
					return
				}
			}
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	tests := []struct {
		name       string
		h          http.HandlerFunc
		wantStatus int
		wantErr    string
	}{
		{"ok", handler(200, vectorAnswer, 0), 0, ""},
		{"bad query", handler(400, errorAnswer, 0), 400, "HTTP 400 bad_data: invalid parameter"},
		{"unavailable", handler(503, "Service Unavailable", 0), 503, "HTTP 503: Service Unavailable"},
		{"garbage", handler(200, "\x00\x01garbage", 0), 0, "not a Prometheus API answer"},
		{"slow", handler(200, vectorAnswer, 5*time.Second), 0, "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			c := Client{URL: srv.URL, Timeout: 300 * time.Millisecond}
			got, err := c.Instant(ctx, "up", time.Unix(1700000000, 0))
			if tt.wantErr == "" {
				if err != nil || len(got) != 2 {
					t.Fatalf("Instant = %v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("error %v, want %q and the server's address", err, tt.wantErr)
			}
			var pe *Error
			if tt.wantStatus != 0 && (!errors.As(err, &pe) || pe.Status != tt.wantStatus) {
				t.Errorf("error %#v, want an *Error with status %d", err, tt.wantStatus)
			}
		})
	}
	// Down: nothing listens.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c := Client{URL: "http://" + addr, Timeout: time.Second}
	if _, err := c.Instant(ctx, "up", time.Now()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("server down: %v", err)
	}
	// One failing query does not lose the others' samples.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Query().Get("query"), "bad") {
			w.WriteHeader(422)
			w.Write([]byte(`{"status":"error","errorType":"execution","error":"boom"}`))
			return
		}
		w.Write([]byte(vectorAnswer))
	}))
	defer srv.Close()
	s := Source{Client: Client{URL: srv.URL}, Queries: []Query{
		{Metric: "a", PromQL: "good", Keys: []LabelKey{{Label: "cpu", Kind: landscape.KeyCPU}}},
		{Metric: "b", PromQL: "bad", Keys: []LabelKey{{Label: "cpu", Kind: landscape.KeyCPU}}},
	}}
	smp, errs := s.Poll(ctx, time.Now())
	if len(smp) != 2 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "b: prometheus") || !strings.Contains(errs[0].Error(), "HTTP 422 execution: boom") {
		t.Errorf("Poll = %v, %v", smp, errs)
	}
}

func TestReadQueries(t *testing.T) {
	good := `[{"metric":"busy","promql":"rate(x[{{window}}])","keys":[{"label":"instance","kind":"hostname","strip_port":true}]}]`
	qs, err := ReadQueries([]byte(good))
	if err != nil || len(qs) != 1 || !qs[0].Keys[0].StripPort || qs[0].Keys[0].Kind != landscape.KeyHostname {
		t.Fatalf("ReadQueries = %+v, %v", qs, err)
	}
	for in, want := range map[string]string{
		`[{"metric":"busy"}]`: "entry 0 needs metric, promql",
		`[{"metric":"a","promql":"b","keys":[{"label":"cpu"}]}]`: "entry 0 (a): a key needs label and kind",
		`[{"metric":`:    "unexpected end of JSON input",
		`{"metric":"a"}`: "cannot unmarshal object",
	} {
		if _, err := ReadQueries([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadQueries(%s) error %v, want %q", in, err, want)
		}
	}
	// The defaults survive a round trip through the file format.
	b, _ := json.Marshal(DefaultQueries())
	if qs, err := ReadQueries(b); err != nil || len(qs) != len(DefaultQueries()) {
		t.Errorf("defaults: %v", err)
	}
}
