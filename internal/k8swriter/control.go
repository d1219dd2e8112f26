package k8swriter

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// Serve answers control commands on ln until ctx ends, one line each:
// "stop", "start", "backend etcd2|etcd3", "status". Replies are one line,
// "ok ..." or "error ...". This is what a host stand-in's writers-stop,
// writers-start and set-backend call when the writer runs as a process.
func (w *Writer) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("writer control: %w", err)
		}
		go w.serveConn(conn)
	}
}

func (w *Writer) serveConn(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	_, _ = fmt.Fprintln(conn, w.Command(strings.Fields(line)))
}

// Command runs one control command and returns its reply line.
func (w *Writer) Command(args []string) string {
	if len(args) == 0 {
		return "error: empty command"
	}
	switch args[0] {
	case "stop":
		w.Stop()
	case "start":
		w.Start()
	case "backend":
		if len(args) != 2 {
			return "error: backend wants etcd2 or etcd3"
		}
		if err := w.SetBackend(Backend(args[1])); err != nil {
			return "error: " + err.Error()
		}
	case "status":
	default:
		return fmt.Sprintf("error: unknown command %q (stop, start, backend B, status)", args[0])
	}
	s := w.Stats()
	return fmt.Sprintf("ok running=%t backend=%s acked=%d failed=%d", s.Running, s.Backend, s.Acked, s.Failed)
}

// Control sends one command to a writer's control socket and returns the
// reply; an "error ..." reply is an error.
func Control(ctx context.Context, socket string, args ...string) (string, error) {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return "", fmt.Errorf("writer control %s: %w", socket, err)
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintln(conn, strings.Join(args, " ")); err != nil {
		return "", fmt.Errorf("writer control %s: %w", socket, err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("writer control %s: %w", socket, err)
	}
	reply = strings.TrimSpace(reply)
	if !strings.HasPrefix(reply, "ok") {
		return reply, fmt.Errorf("writer control %s %q: %s", socket, args, reply)
	}
	return reply, nil
}
