package main

import (
	"strings"
	"testing"
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
			want: config{alertTopicARN: topic, autoRotate: true},
		},
		{
			name: "auto rotate off",
			env:  map[string]string{"ALERT_TOPIC_ARN": topic, "AUTO_ROTATE_ON_EXPIRY_NOTICE": "false"},
			want: config{alertTopicARN: topic, autoRotate: false},
		},
		{
			name: "auto rotate on",
			env:  map[string]string{"ALERT_TOPIC_ARN": topic, "AUTO_ROTATE_ON_EXPIRY_NOTICE": "TRUE"},
			want: config{alertTopicARN: topic, autoRotate: true},
		},
		{
			name:    "every problem at once",
			env:     map[string]string{"AUTO_ROTATE_ON_EXPIRY_NOTICE": "yes"},
			wantErr: []string{"ALERT_TOPIC_ARN is required", "AUTO_ROTATE_ON_EXPIRY_NOTICE must be true or false"},
		},
		{
			name:    "bad topic",
			env:     map[string]string{"ALERT_TOPIC_ARN": "alerts"},
			wantErr: []string{"ALERT_TOPIC_ARN must be an SNS topic ARN"},
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
