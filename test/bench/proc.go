package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// caVariables are removed from every measured process: a Lambda sandbox has
// none of them, and loading an extra CA bundle costs start-up time.
var caVariables = []string{"AWS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"}

// sandboxEnv returns the environment of a measured process: PATH, a fresh
// empty HOME (no ~/.aws), fake credentials, the region, and extra. Nothing
// else is inherited, so no CA variable reaches the process.
func sandboxEnv(home string, extra map[string]string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TZ=UTC",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIABENCHFAKE0000000",
		"AWS_SECRET_ACCESS_KEY=bench-fake-secret-access-key",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	out := env[:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !isCAVariable(name) {
			out = append(out, kv)
		}
	}
	return out
}

func isCAVariable(name string) bool {
	for _, c := range caVariables {
		if c == name {
			return true
		}
	}
	return false
}

// statusKB reads a "Name:   N kB" field of /proc/<pid>/status.
func statusKB(pid int, field string) (int64, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		return v, err == nil
	}
	return 0, false
}

// cpuTime returns the CPU time all threads of pid have run so far
// (/proc/<pid>/task/*/schedstat, nanoseconds).
func cpuTime(pid int) (time.Duration, bool) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, false
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err == nil {
			sum += n
		}
	}
	return time.Duration(sum), true
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
