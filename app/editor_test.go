package app

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEditorCommand(t *testing.T) {
	// A directory holding a fake xdg-open, and one holding nothing.
	withXDG := t.TempDir()
	xdg := filepath.Join(withXDG, "xdg-open")
	if err := os.WriteFile(xdg, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()

	const path = "/src/my app/main.py"
	tests := []struct {
		name    string
		env     map[string]string
		pathDir string // $PATH
		want    []string
		wantErr string
	}{
		{
			name:    "VISUAL wins over EDITOR",
			env:     map[string]string{"VISUAL": "gvim", "EDITOR": "nano"},
			pathDir: withXDG,
			want:    []string{"gvim", "+42", path},
		},
		{
			name:    "EDITOR alone",
			env:     map[string]string{"EDITOR": "nano"},
			pathDir: withXDG,
			want:    []string{"nano", "+42", path},
		},
		{
			name:    "EDITOR with arguments split into fields",
			env:     map[string]string{"EDITOR": "  code   --wait "},
			pathDir: empty,
			want:    []string{"code", "--wait", "+42", path},
		},
		{
			name:    "VISUAL with arguments",
			env:     map[string]string{"VISUAL": "emacsclient -c -a ''", "EDITOR": "vi"},
			pathDir: empty,
			want:    []string{"emacsclient", "-c", "-a", "''", "+42", path},
		},
		{
			name:    "blank VISUAL falls back to EDITOR",
			env:     map[string]string{"VISUAL": " \t ", "EDITOR": "vi"},
			pathDir: empty,
			want:    []string{"vi", "+42", path},
		},
		{
			name:    "neither set: xdg-open on PATH",
			env:     map[string]string{},
			pathDir: withXDG,
			want:    []string{xdg, path},
		},
		{
			name:    "neither set: blank values and xdg-open on PATH",
			env:     map[string]string{"VISUAL": "", "EDITOR": "  "},
			pathDir: withXDG,
			want:    []string{xdg, path},
		},
		{
			name:    "neither set and no xdg-open",
			env:     map[string]string{},
			pathDir: empty,
			wantErr: "no editor",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.pathDir)
			getenv := func(k string) string { return tt.env[k] }
			got, err := EditorCommand(getenv, path, 42)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EditorCommand = %q, %v, want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("EditorCommand: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EditorCommand = %q, want %q", got, tt.want)
			}
		})
	}
}

// The returned slice must not alias anything a later call changes.
func TestEditorCommandFreshSlice(t *testing.T) {
	getenv := func(k string) string {
		if k == "EDITOR" {
			return "vi"
		}
		return ""
	}
	first, err := EditorCommand(getenv, "/a.py", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EditorCommand(getenv, "/b.py", 2); err != nil {
		t.Fatal(err)
	}
	if want := []string{"vi", "+1", "/a.py"}; !reflect.DeepEqual(first, want) {
		t.Errorf("first call = %q after a second call, want %q", first, want)
	}
}
