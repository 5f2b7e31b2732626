package spapisim

import (
	"encoding/json"
	"time"
)

// Notification types the simulator sends.
const (
	TypeNewSecret    = "APPLICATION_OAUTH_CLIENT_NEW_SECRET"
	TypeSecretExpiry = "APPLICATION_OAUTH_CLIENT_SECRET_EXPIRY"
)

// The envelope and payloads, field for field in the order of the official
// examples.
type (
	envelope struct {
		NotificationVersion  string   `json:"notificationVersion"`
		NotificationType     string   `json:"notificationType"`
		PayloadVersion       string   `json:"payloadVersion"`
		EventTime            string   `json:"eventTime"`
		Payload              any      `json:"payload"`
		NotificationMetadata metadata `json:"notificationMetadata"`
	}
	metadata struct {
		ApplicationID  string `json:"applicationId"`
		SubscriptionID string `json:"subscriptionId"`
		PublishTime    string `json:"publishTime"`
		NotificationID string `json:"notificationId"`
	}
	newSecretPayload struct {
		ApplicationOAuthClientNewSecret struct {
			ClientID                  string `json:"clientId"`
			NewClientSecret           string `json:"newClientSecret"`
			NewClientSecretExpiryTime string `json:"newClientSecretExpiryTime"`
			OldClientSecretExpiryTime string `json:"oldClientSecretExpiryTime"`
		} `json:"applicationOAuthClientNewSecret"`
	}
	expiryPayload struct {
		ApplicationOAuthClientSecretExpiry struct {
			ClientID                 string `json:"clientId"`
			ClientSecretExpiryTime   string `json:"clientSecretExpiryTime"`
			ClientSecretExpiryReason string `json:"clientSecretExpiryReason"`
		} `json:"applicationOAuthClientSecretExpiry"`
	}
)

// timeFormat is RFC 3339 in UTC with milliseconds, as in the official examples.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func newSecretBody(clientID, appID, subID, notificationID, secret string, eventTime, publishTime, newExpiry, oldExpiry time.Time) []byte {
	var p newSecretPayload
	p.ApplicationOAuthClientNewSecret.ClientID = clientID
	p.ApplicationOAuthClientNewSecret.NewClientSecret = secret
	p.ApplicationOAuthClientNewSecret.NewClientSecretExpiryTime = formatTime(newExpiry)
	p.ApplicationOAuthClientNewSecret.OldClientSecretExpiryTime = formatTime(oldExpiry)
	return marshalEnvelope(TypeNewSecret, p, appID, subID, notificationID, eventTime, publishTime)
}

func expiryBody(clientID, appID, subID, notificationID string, now, expiry time.Time) []byte {
	var p expiryPayload
	p.ApplicationOAuthClientSecretExpiry.ClientID = clientID
	p.ApplicationOAuthClientSecretExpiry.ClientSecretExpiryTime = formatTime(expiry)
	p.ApplicationOAuthClientSecretExpiry.ClientSecretExpiryReason = "PERIODIC_ROTATION"
	return marshalEnvelope(TypeSecretExpiry, p, appID, subID, notificationID, now, now)
}

func marshalEnvelope(typ string, payload any, appID, subID, notificationID string, eventTime, publishTime time.Time) []byte {
	b, err := json.Marshal(envelope{
		NotificationVersion: "1.0",
		NotificationType:    typ,
		PayloadVersion:      "2023-11-30",
		EventTime:           formatTime(eventTime),
		Payload:             payload,
		NotificationMetadata: metadata{
			ApplicationID:  appID,
			SubscriptionID: subID,
			PublishTime:    formatTime(publishTime),
			NotificationID: notificationID,
		},
	})
	if err != nil { // only strings: cannot happen
		panic("spapisim: marshal notification: " + err.Error())
	}
	return b
}
