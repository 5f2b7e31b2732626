package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

func TestLoadConfig(t *testing.T) {
	const (
		topic = "arn:aws:sns:us-east-1:123456789012:alerts"
		fn    = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
	)
	base := map[string]string{"ALERT_TOPIC_ARN": topic, "ROTATE_SECRET_FUNCTION_ARN": fn}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr []string
	}{
		{"defaults", base, config{alertTopicARN: topic, rotateFunctionARN: fn, stuckAfter: 6 * time.Hour,
			lwaTokenURL: "https://api.amazon.com/auth/o2/token", keys: secretdoc.DefaultKeys}, nil},
		{"everything set", with("STUCK_ROTATION_AFTER", "90m", "LWA_TOKEN_URL", "http://127.0.0.1:9000/auth/o2/token",
			"SECRET_CLIENT_ID_KEY", "id", "SECRET_CLIENT_SECRET_KEY", "secret"),
			config{alertTopicARN: topic, rotateFunctionARN: fn, stuckAfter: 90 * time.Minute,
				lwaTokenURL: "http://127.0.0.1:9000/auth/o2/token", keys: secretdoc.Keys{ClientID: "id", ClientSecret: "secret"}}, nil},
		{"http on localhost", with("LWA_TOKEN_URL", "http://localhost:9000/t"),
			config{alertTopicARN: topic, rotateFunctionARN: fn, stuckAfter: 6 * time.Hour,
				lwaTokenURL: "http://localhost:9000/t", keys: secretdoc.DefaultKeys}, nil},
		{"every problem at once", map[string]string{"STUCK_ROTATION_AFTER": "6 hours", "LWA_TOKEN_URL": "http://lwa.example.com/t",
			"SECRET_CLIENT_ID_KEY": "k", "SECRET_CLIENT_SECRET_KEY": "k"}, config{}, []string{
			"ALERT_TOPIC_ARN is required", "ROTATE_SECRET_FUNCTION_ARN is required", "STUCK_ROTATION_AFTER must be a duration",
			"LWA_TOKEN_URL endpoint refused: http://lwa.example.com/t: want https", "SECRET_CLIENT_ID_KEY"}},
		{"not a function ARN", with("ROTATE_SECRET_FUNCTION_ARN", "rotate"), config{}, []string{"must be a Lambda function ARN"}},
		{"negative duration", with("STUCK_ROTATION_AFTER", "-1h"), config{}, []string{"STUCK_ROTATION_AFTER must be positive"}},
		{"relative URL", with("LWA_TOKEN_URL", "/auth/o2/token"), config{}, []string{"LWA_TOKEN_URL endpoint refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("loadConfig() = %+v, nil; want error", got)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("loadConfig() error = %q, want it to contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("loadConfig() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
