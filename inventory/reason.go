package inventory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// plainReason turns a network, TLS or gRPC error into the words an operator
// reads at 3 a.m.: "connection refused", "timed out after 2s: no answer
// (hung?)", "TLS: certificate signed by unknown authority". Unknown errors
// keep their own text.
func plainReason(err error, timeout time.Duration) string {
	if err == nil {
		return ""
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalid    x509.CertificateInvalidError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
		alert      tls.AlertError
		dnsErr     *net.DNSError
		netTimeout interface{ Timeout() bool }
	)
	switch {
	case errors.As(err, &unknownCA):
		return "TLS: certificate signed by unknown authority (wrong tls.ca?)"
	case errors.As(err, &hostErr):
		return "TLS: " + hostErr.Error() + " (set tls.server_name?)"
	case errors.As(err, &invalid):
		return "TLS: " + invalid.Error()
	case errors.As(err, &verifyErr):
		return "TLS: " + verifyErr.Err.Error()
	case errors.As(err, &recordErr):
		return "TLS: endpoint does not speak TLS (use http://)"
	case errors.As(err, &alert):
		return "TLS: " + tlsAlert(alert)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &dnsErr):
		return "DNS: " + dnsErr.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netTimeout) && netTimeout.Timeout():
		return fmt.Sprintf("timed out after %s: no answer (hung?)", timeout)
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		if s.Code() == codes.DeadlineExceeded {
			return fmt.Sprintf("timed out after %s: no answer (hung?)", timeout)
		}
		msg = s.Message()
	}
	if errors.Is(err, io.EOF) || msg == "EOF" || strings.HasSuffix(msg, ": EOF") {
		return "connection closed without an answer (a TLS endpoint? use https://)"
	}
	return fromText(msg, timeout)
}

// fromText handles errors that reach us only as text (grpc flattens its
// transport errors into the status message).
func fromText(msg string, timeout time.Duration) string {
	switch {
	case strings.Contains(msg, "connection refused"):
		return "connection refused"
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return "TLS: certificate signed by unknown authority (wrong tls.ca?)"
	case strings.Contains(msg, "certificate required"):
		return "TLS: the server requires a client certificate (set tls.cert and tls.key)"
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"):
		return "TLS: the server rejected the client certificate"
	case strings.Contains(msg, "first record does not look like a TLS handshake"),
		strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "TLS: endpoint does not speak TLS (use http://)"
	case strings.Contains(msg, "looked like an HTTP/1.1 header"):
		return "not an etcd endpoint: it speaks HTTP/1.1, not gRPC"
	case strings.Contains(msg, "user name is empty"):
		return "etcd auth is on: set auth.user and auth.password_env or auth.password_file"
	case strings.Contains(msg, "deadline exceeded"), strings.Contains(msg, "i/o timeout"):
		return fmt.Sprintf("timed out after %s: no answer (hung?)", timeout)
	}
	return msg
}

func tlsAlert(a tls.AlertError) string {
	switch a.Error() {
	case "tls: certificate required":
		return "the server requires a client certificate (set tls.cert and tls.key)"
	case "tls: bad certificate", "tls: unknown certificate authority":
		return "the server rejected the client certificate (" + a.Error() + ")"
	}
	return a.Error()
}
