// Command rotate-secret is RotateSecretFunction: Secrets Manager invokes it for the four steps of
// a rotation of a managed SP-API LWA client secret (internal/rotation).
package main

import (
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/spapi-lwa/secret-rotation/internal/awsenv"
	"github.com/spapi-lwa/secret-rotation/internal/lwa"
	"github.com/spapi-lwa/secret-rotation/internal/rotation"
	"github.com/spapi-lwa/secret-rotation/internal/secretdoc"
	"github.com/spapi-lwa/secret-rotation/internal/spapi"
)

type config struct {
	alertTopicARN, lwaTokenURL, spAPIEndpoint string
	keys                                      secretdoc.Keys
	cooldown, rejectAfter                     time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	v := awsenv.NewVars(getenv)
	cfg := config{
		alertTopicARN: v.TopicARN(),
		lwaTokenURL:   v.Endpoint("LWA_TOKEN_URL", "https://api.amazon.com/auth/o2/token"),
		spAPIEndpoint: v.Endpoint("SP_API_ENDPOINT", "https://sellingpartnerapi-na.amazon.com"),
		keys:          v.Keys(),
		cooldown:      v.Duration("ROTATION_REQUEST_COOLDOWN", "30m", rotation.DefaultCooldown),
		rejectAfter:   v.Duration("SECRET_REJECT_AFTER", "1h", rotation.DefaultRejectAfter),
	}
	return cfg, v.Err("rotate-secret")
}

func main() {
	cfg, err := loadConfig(os.Getenv)
	logger, sm, alerts := awsenv.Setup(os.Getenv, cfg.alertTopicARN, err)
	// One exchange's timeout: the clients retry within the deadline and never follow a redirect.
	hc := &http.Client{Timeout: 30 * time.Second}
	r := rotation.New(sm, sm, lwa.NewClient(cfg.lwaTokenURL, hc), spapi.NewClient(cfg.spAPIEndpoint, hc),
		alerts, logger, rotation.Config{Keys: cfg.keys, Cooldown: cfg.cooldown, RejectAfter: cfg.rejectAfter})
	lambda.Start(r.Handle)
}
