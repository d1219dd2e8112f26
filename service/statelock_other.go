//go:build !unix

package service

// LockFileName is the serve lock's file on unix; elsewhere no lock is
// taken (run one serve per state dir).
const LockFileName = "serve.lock"

func lockStateDir(string) (func(), error) { return func() {}, nil }
