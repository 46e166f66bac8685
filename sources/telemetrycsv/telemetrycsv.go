// Package telemetrycsv is the telemetry source for CSV files of
// timestamp,node,metric,value rows, for replays and evaluations. A file is
// watched with fsnotify: rows appended are read as they come, and a file
// replaced or truncated is read again from the start. Bad rows are
// skipped, counted and reported with their line numbers.
package telemetrycsv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"flowscape/landscape"
	"flowscape/landscape/telemetry"
	"flowscape/sources"
)

// Name is the source's name in the registry.
const Name = "telemetry-csv"

// BadRow is a row that could not be read.
type BadRow struct {
	Line int
	Text string // the row, cut to 80 bytes
	Err  string
}

func (b BadRow) String() string { return fmt.Sprintf("line %d: %s (%q)", b.Line, b.Err, b.Text) }

// Report counts the rows read and the rows skipped.
type Report struct {
	Rows int      // samples read
	Bad  int      // rows skipped
	Some []BadRow // the first few bad rows
}

const maxBad = 20

func (r *Report) bad(line int, text, err string) {
	r.Bad++
	if len(r.Some) < maxBad {
		if len(text) > 80 {
			text = text[:80] + "…"
		}
		r.Some = append(r.Some, BadRow{Line: line, Text: text, Err: err})
	}
}

// String is a one-line summary.
func (r Report) String() string {
	s := fmt.Sprintf("%d samples", r.Rows)
	if r.Bad > 0 {
		s += fmt.Sprintf(", %d bad rows skipped (first: %s)", r.Bad, r.Some[0])
	}
	return s
}

// ParseNode reads the node column: kind=value for a join key (hostname,
// mac, device, cpu, cgroup, uuid, id), anything else a node id.
func ParseNode(s string) landscape.JoinKey {
	if k, v, ok := strings.Cut(s, "="); ok {
		switch k {
		case landscape.KeyHostname, landscape.KeyMAC, landscape.KeyDevice, landscape.KeyCPU, landscape.KeyCgroup, landscape.KeyUUID, telemetry.KeyID:
			return landscape.JoinKey{Kind: k, Value: v}
		}
	}
	return landscape.JoinKey{Kind: telemetry.KeyID, Value: s}
}

// ParseTime reads a timestamp: RFC 3339, or Unix time as a number (seconds,
// or milliseconds when it is above 10¹¹). It returns Unix milliseconds.
func ParseTime(s string) (int64, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < 0 || f > 1e15 {
			return 0, fmt.Errorf("timestamp %s out of range", s)
		}
		if f < 1e11 {
			return int64(f * 1000), nil
		}
		return int64(f), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q is neither RFC 3339 nor Unix time", s)
	}
	return t.UnixMilli(), nil
}

// ParseRow reads one row. ok is false (with no error) for a header or a
// blank or comment (#) line.
func ParseRow(line string) (s telemetry.Sample, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return s, false, nil
	}
	f := strings.Split(line, ",")
	if len(f) != 4 {
		return s, false, fmt.Errorf("%d fields, want 4 (timestamp,node,metric,value)", len(f))
	}
	for i := range f {
		f[i] = strings.TrimSpace(strings.Trim(strings.TrimSpace(f[i]), `"`))
	}
	if strings.EqualFold(f[0], "timestamp") || strings.EqualFold(f[0], "time") {
		return s, false, nil
	}
	t, err := ParseTime(f[0])
	if err != nil {
		return s, false, err
	}
	if f[1] == "" {
		return s, false, errors.New("empty node")
	}
	if f[2] == "" {
		return s, false, errors.New("empty metric")
	}
	v, err := strconv.ParseFloat(f[3], 64)
	if err != nil {
		return s, false, fmt.Errorf("value %q is not a number", f[3])
	}
	return telemetry.Sample{Key: ParseNode(f[1]), Metric: f[2], T: t, V: v}, true, nil
}

// reader turns bytes into samples, line by line, remembering the line
// number and a line not yet complete.
type reader struct {
	line    int
	partial []byte
	rep     Report
}

// feed reads the complete lines of data (and, at EOF, the last one).
func (r *reader) feed(data []byte, eof bool) []telemetry.Sample {
	data = append(r.partial, data...)
	r.partial = nil
	var out []telemetry.Sample
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if !eof {
				r.partial = append([]byte(nil), data...)
				break
			}
			i = len(data)
		}
		text := string(bytes.TrimRight(data[:i], "\r"))
		data = data[min(i+1, len(data)):]
		r.line++
		s, ok, err := ParseRow(text)
		switch {
		case err != nil:
			r.rep.bad(r.line, text, err.Error())
		case ok:
			r.rep.Rows++
			out = append(out, s)
		}
	}
	return out
}

// Read reads a whole CSV stream. Bad rows are in the report.
func Read(rd io.Reader) ([]telemetry.Sample, Report, error) {
	var r reader
	var out []telemetry.Sample
	br := bufio.NewReaderSize(rd, 1<<16)
	buf := make([]byte, 1<<16)
	for {
		n, err := br.Read(buf)
		out = append(out, r.feed(buf[:n], false)...)
		if errors.Is(err, io.EOF) {
			out = append(out, r.feed(nil, true)...)
			return out, r.rep, nil
		}
		if err != nil {
			return out, r.rep, err
		}
	}
}

// Load reads a CSV file.
func Load(path string) ([]telemetry.Sample, Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Report{}, err
	}
	defer f.Close()
	s, rep, err := Read(f)
	if err != nil {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return s, rep, err
}

// Watcher follows a CSV file.
type Watcher struct {
	Path     string
	OnRows   func([]telemetry.Sample) // new samples, in file order
	OnReport func(Report)             // after each read: the counts so far
	OnError  func(error)              // the file could not be read; what was read stays
	off      int64
	info     os.FileInfo
	r        reader
}

// Run reads the file and then what is appended to it until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	return sources.WatchFile(ctx, w.Path, w.read, w.fail)
}

func (w *Watcher) fail(err error) {
	if w.OnError != nil {
		w.OnError(err)
	}
}

// read reads what is new: from the last offset, or from the start when
// the file was replaced or truncated.
func (w *Watcher) read() {
	f, err := os.Open(w.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%s: deleted; the samples read from it stay", w.Path)
		}
		w.fail(err)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		w.fail(err)
		return
	}
	if w.info == nil || !os.SameFile(w.info, info) || info.Size() < w.off {
		w.off = 0
		w.r = reader{}
	}
	w.info = info
	if _, err := f.Seek(w.off, io.SeekStart); err != nil {
		w.fail(err)
		return
	}
	data, err := io.ReadAll(f)
	if err != nil {
		w.fail(fmt.Errorf("%s: %w", w.Path, err))
	}
	w.off += int64(len(data))
	rows := w.r.feed(data, false)
	if len(rows) > 0 && w.OnRows != nil {
		w.OnRows(rows)
	}
	if w.OnReport != nil {
		w.OnReport(w.r.rep)
	}
}

// Backend describes the source for the registry.
type Backend struct{}

var _ sources.Backend = Backend{}

// Info says what the source reads; it needs nothing from the machine.
func (Backend) Info(context.Context) sources.Info {
	return sources.Info{Name: Name, Kind: sources.KindTelemetry, Available: true,
		Summary: "telemetry from a CSV file of timestamp,node,metric,value rows, followed as it grows",
		Detail:  "flowscape anomalies --telemetry FILE.csv; node is a node id or kind=value (hostname, mac, device, cpu, cgroup, uuid)"}
}
