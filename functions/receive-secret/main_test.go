package main

import (
	"strings"
	"testing"

	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
)

func TestLoadConfig(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:123456789012:alerts"
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr []string // substrings of the error, all of them
	}{
		{
			name: "defaults",
			env:  map[string]string{"ALERT_TOPIC_ARN": topic},
			want: config{alertTopicARN: topic, keys: secretdoc.DefaultKeys},
		},
		{
			name: "custom keys",
			env:  map[string]string{"ALERT_TOPIC_ARN": topic, "SECRET_CLIENT_ID_KEY": "lwaClientId", "SECRET_CLIENT_SECRET_KEY": "lwaClientSecret"},
			want: config{alertTopicARN: topic, keys: secretdoc.Keys{ClientID: "lwaClientId", ClientSecret: "lwaClientSecret"}},
		},
		{
			name:    "every problem at once",
			env:     map[string]string{"SECRET_CLIENT_ID_KEY": "clientSecret"},
			wantErr: []string{"ALERT_TOPIC_ARN is required", "client id and client secret keys are both"},
		},
		{
			name:    "bad topic and expiry key",
			env:     map[string]string{"ALERT_TOPIC_ARN": "alerts", "SECRET_CLIENT_SECRET_KEY": "clientSecretExpiresAt"},
			wantErr: []string{"ALERT_TOPIC_ARN must be an SNS topic ARN", "is reserved for the expiry"},
		},
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
