package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// redisProc is a redis-server the bench started on 127.0.0.1, for the
// Centrifuge comparator of the cluster crash.
type redisProc struct {
	*process
	dir string
}

// startRedis starts bin on a free loopback port, without persistence, in a
// temporary directory, and waits until it answers PING.
func startRedis(ctx context.Context, bin string) (*redisProc, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w (Debian: apt-get install -y redis-server; or --redis-server PATH)", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rollcall-bench-redis-")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	logFile := filepath.Join(dir, "redis.log")
	p, err := launch(ctx, launchSpec{name: "redis-server", args: []string{path, "--bind", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
		"--logfile", logFile, "--loglevel", "warning"}})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.addr = addr
	r := &redisProc{process: p, dir: dir}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := redisPing(r.addr); err == nil {
			return r, nil
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			log, _ := os.ReadFile(logFile)
			r.close()
			return nil, fmt.Errorf("redis-server on %s did not answer PING: %w\n%s", r.addr, err, log)
		}
		select {
		case <-r.done:
			log, _ := os.ReadFile(logFile)
			r.close()
			return nil, fmt.Errorf("redis-server exited: %v\n%s", r.cmd.ProcessState, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// redisPing sends PING (RESP inline command) and expects +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// close kills the server (it keeps nothing) and removes its directory.
func (r *redisProc) close() {
	r.kill()
	os.RemoveAll(r.dir)
}
