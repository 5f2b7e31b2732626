package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr []string // every problem must be named
		// notInErr must not appear in the error (credentials in a URL).
		notInErr []string
	}{
		{
			name: "defaults",
			env:  map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts"},
			want: config{
				alertTopicARN: "arn:aws:sns:us-east-1:123456789012:alerts",
				lwaTokenURL:   "https://api.amazon.com/auth/o2/token",
				spAPIEndpoint: "https://sellingpartnerapi-na.amazon.com",
				keys:          secretdoc.Keys{ClientID: "clientId", ClientSecret: "clientSecret"},
				cooldown:      30 * time.Minute,
				rejectAfter:   15 * time.Minute,
			},
		},
		{
			name: "everything set",
			env: map[string]string{
				"ALERT_TOPIC_ARN":           "arn:aws:sns:eu-west-1:123456789012:t",
				"LWA_TOKEN_URL":             "http://127.0.0.1:9000/auth/o2/token",
				"SP_API_ENDPOINT":           "http://127.0.0.1:9001",
				"SECRET_CLIENT_ID_KEY":      "lwaClientId",
				"SECRET_CLIENT_SECRET_KEY":  "lwaClientSecret",
				"ROTATION_REQUEST_COOLDOWN": "45m",
				"SECRET_REJECT_AFTER":       "2m",
			},
			want: config{
				alertTopicARN: "arn:aws:sns:eu-west-1:123456789012:t",
				lwaTokenURL:   "http://127.0.0.1:9000/auth/o2/token",
				spAPIEndpoint: "http://127.0.0.1:9001",
				keys:          secretdoc.Keys{ClientID: "lwaClientId", ClientSecret: "lwaClientSecret"},
				cooldown:      45 * time.Minute,
				rejectAfter:   2 * time.Minute,
			},
		},
		{
			name:    "topic missing",
			env:     map[string]string{},
			wantErr: []string{"ALERT_TOPIC_ARN"},
		},
		{
			name: "every problem at once",
			env: map[string]string{
				"LWA_TOKEN_URL":             "api.amazon.com/auth/o2/token",
				"SP_API_ENDPOINT":           "ftp://sellingpartnerapi-na.amazon.com",
				"SECRET_CLIENT_ID_KEY":      "k",
				"SECRET_CLIENT_SECRET_KEY":  "k",
				"ROTATION_REQUEST_COOLDOWN": "soon",
			},
			wantErr: []string{"ALERT_TOPIC_ARN", "LWA_TOKEN_URL", "SP_API_ENDPOINT", "SECRET_CLIENT_ID_KEY", "ROTATION_REQUEST_COOLDOWN"},
		},
		{
			name: "cooldown not positive",
			env: map[string]string{
				"ALERT_TOPIC_ARN":           "arn:aws:sns:us-east-1:123456789012:alerts",
				"ROTATION_REQUEST_COOLDOWN": "-5m",
			},
			wantErr: []string{"ROTATION_REQUEST_COOLDOWN must be positive"},
		},
		{
			name: "cooldown zero",
			env: map[string]string{
				"ALERT_TOPIC_ARN":           "arn:aws:sns:us-east-1:123456789012:alerts",
				"ROTATION_REQUEST_COOLDOWN": "0s",
			},
			wantErr: []string{"ROTATION_REQUEST_COOLDOWN must be positive"},
		},
		{
			name: "key reserved for the expiry",
			env: map[string]string{
				"ALERT_TOPIC_ARN":          "arn:aws:sns:us-east-1:123456789012:alerts",
				"SECRET_CLIENT_SECRET_KEY": "clientSecretExpiresAt",
			},
			wantErr: []string{"SECRET_CLIENT_SECRET_KEY", "reserved"},
		},
		{
			name: "plain http off loopback",
			env: map[string]string{
				"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
				"LWA_TOKEN_URL":   "http://example.com/auth/o2/token",
				"SP_API_ENDPOINT": "http://sellingpartnerapi-na.amazon.com",
			},
			wantErr: []string{"LWA_TOKEN_URL", "example.com/auth/o2/token", "SP_API_ENDPOINT", "sellingpartnerapi-na.amazon.com", "want https"},
		},
		{
			name: "credentials or query in an endpoint",
			env: map[string]string{
				"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
				"LWA_TOKEN_URL":   "https://user:pa55word@api.amazon.com/auth/o2/token",
				"SP_API_ENDPOINT": "https://sellingpartnerapi-na.amazon.com/?access_token=t0ken",
			},
			wantErr:  []string{"LWA_TOKEN_URL", "user information", "SP_API_ENDPOINT", "query"},
			notInErr: []string{"pa55word", "t0ken"},
		},
		{
			name: "loopback endpoints over plain http",
			env: map[string]string{
				"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
				"LWA_TOKEN_URL":   "http://localhost:8080/auth/o2/token",
				"SP_API_ENDPOINT": "http://[::1]:8081",
			},
			want: config{
				alertTopicARN: "arn:aws:sns:us-east-1:123456789012:alerts",
				lwaTokenURL:   "http://localhost:8080/auth/o2/token",
				spAPIEndpoint: "http://[::1]:8081",
				keys:          secretdoc.Keys{ClientID: "clientId", ClientSecret: "clientSecret"},
				cooldown:      30 * time.Minute,
				rejectAfter:   15 * time.Minute,
			},
		},
		{
			name: "endpoint without host",
			env: map[string]string{
				"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
				"SP_API_ENDPOINT": "https://",
			},
			wantErr: []string{"SP_API_ENDPOINT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("loadConfig() = %+v, nil; want an error naming %q", got, tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("loadConfig() error = %q, want it to mention %q", err, w)
					}
				}
				for _, w := range tt.notInErr {
					if strings.Contains(err.Error(), w) {
						t.Errorf("loadConfig() error = %q, quotes %q", err, w)
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
