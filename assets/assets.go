// Package assets embeds the files Flowscape ships: the in-process Python
// agent, the demo program and the icon.
package assets

import _ "embed"

// AgentPy is the in-process Python tracing agent (agent/flowscape_agent.py).
//
//go:embed agent/flowscape_agent.py
var AgentPy []byte

// HookC is the source of the agent's profile hook in C
// (agent/_flowscape_hook.c), compiled on first use against the traced
// interpreter's headers.
//
//go:embed agent/_flowscape_hook.c
var HookC []byte

// HookModule is the module name of the compiled hook.
const HookModule = "_flowscape_hook"

// AgentModule is the module name the agent is imported as.
const AgentModule = "flowscape_agent"

// DemoPy is the bundled demo program (demo/demo.py).
//
//go:embed demo/demo.py
var DemoPy []byte

// DemoName is the demo program's file name.
const DemoName = "flowscape_demo.py"

// IconPNG is the application icon (icon.png).
//
//go:embed icon.png
var IconPNG []byte
