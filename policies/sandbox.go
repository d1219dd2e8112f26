package policies

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// NetBuiltins are the OPA builtins that reach outside the process: an HTTP
// request, a DNS lookup, and the runtime's environment and configuration.
// Policies are compiled without them unless allowed (--allow-net-builtins),
// so a control copied from elsewhere cannot send the facts (member names,
// endpoints, versions) anywhere during a scan or a policy test. The other
// non-deterministic builtins of OPA v1.20.1 (time.now_ns, rand.intn,
// uuid.rfc4122, io.jwt.encode_sign*, io.jwt.decode_verify) read only the
// clock and the random source, and stay.
var NetBuiltins = []string{"http.send", "net.lookup_ip_addr", "opa.runtime"}

// AllowNetFlag is the command-line flag that allows NetBuiltins.
const AllowNetFlag = "--allow-net-builtins"

// capabilities are OPA's builtins for this version, without NetBuiltins
// unless allowNet.
func capabilities(allowNet bool) *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	if !allowNet {
		caps.Builtins = slices.DeleteFunc(caps.Builtins, func(b *ast.Builtin) bool {
			return slices.Contains(NetBuiltins, b.Name)
		})
	}
	return caps
}

// newCompiler is the compiler every policy is compiled with, for scans,
// evals and policy tests alike.
func newCompiler(allowNet bool) *ast.Compiler {
	return ast.NewCompiler().WithCapabilities(capabilities(allowNet)).WithEnablePrintStatements(false)
}

// explainSandbox rewrites OPA's "undefined function http.send" for a
// builtin left out by the sandbox into what to do about it.
func explainSandbox(p Problem) Problem {
	name, ok := strings.CutPrefix(p.Message, "undefined function ")
	if ok && slices.Contains(NetBuiltins, name) {
		p.Message = fmt.Sprintf("builtin %s is not allowed: it reaches outside etcdaudit (network or environment), and policies run without it unless %s is given", name, AllowNetFlag)
	}
	return p
}
