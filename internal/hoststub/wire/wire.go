// Package wire is the protocol between the testhost command and the hoststub
// supervisor: one JSON request and one JSON response per unix-socket
// connection. It holds only standard-library types so testhost builds fast.
package wire

// Request is one testhost invocation.
type Request struct {
	Op     string            `json:"op"`
	Member string            `json:"member"`
	Args   []string          `json:"args,omitempty"`
	Env    map[string]string `json:"env,omitempty"` // the ETCDAUDIT_* variables testhost received
}

// Response is the supervisor's answer: Output goes to testhost's stdout,
// Error to its stderr with exit status 1.
type Response struct {
	Output string `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Ops lists the operations testhost accepts.
var Ops = []string{"stop", "start", "install", "set-flags", "status", "restore", "writers-stop", "writers-start", "set-backend", "verify", "check-v2store"}
