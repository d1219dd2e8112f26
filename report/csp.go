package report

// HTMLContentSecurityPolicy is the policy the HTML report carries in its
// meta tag: nothing fetched, and only the report's own script, pinned by
// its hash. A server of the page sends it as a header too (a header can
// add frame-ancestors, which a meta tag cannot).
func HTMLContentSecurityPolicy() string { return htmlCSP }
