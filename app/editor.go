package app

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// EditorCommand returns the command that opens path at line: $VISUAL or
// $EDITOR with +LINE, else xdg-open (which cannot go to a line). getenv is
// os.Getenv outside tests.
func EditorCommand(getenv func(string) string, path string, line int) ([]string, error) {
	for _, v := range []string{"VISUAL", "EDITOR"} {
		if ed := strings.Fields(getenv(v)); len(ed) > 0 {
			return append(ed, "+"+strconv.Itoa(line), path), nil
		}
	}
	if p, err := exec.LookPath("xdg-open"); err == nil {
		return []string{p, path}, nil
	}
	return nil, errors.New("no editor: set $VISUAL or $EDITOR, or install xdg-utils")
}

// OpenInEditor starts the editor on path at line, without a shell, and does
// not wait for it.
func OpenInEditor(path string, line int) error {
	argv, err := EditorCommand(os.Getenv, path, line)
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("open %s in %s: %w", path, argv[0], err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
