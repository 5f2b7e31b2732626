package spapisim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// answer is one HTTP answer: a status and a JSON body (none when nil).
type answer struct {
	status int
	body   any
}

type apiError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Details *string `json:"details,omitempty"`
}

func lwaAnswer(status int, code, description string) answer {
	return answer{status, map[string]string{"error": code, "error_description": description}}
}

func apiAnswer(status int, code, message string, details *string) answer {
	return answer{status, map[string][]apiError{"errors": {{code, message, details}}}}
}

// The answers of LWA and SP-API, as the official model and service give them. An injected server
// error draws index 0 (500) or 1 (503).
var (
	lwaBadClient = lwaAnswer(401, "invalid_client", "Client authentication failed")
	lwaServer    = [2]answer{lwaAnswer(500, "server_error", "Internal server error"),
		lwaAnswer(503, "temporarily_unavailable", "Service temporarily unavailable")}
	apiForbidden   = apiAnswer(403, "Unauthorized", "Access to requested resource is denied.", new(string))
	apiNotEnrolled = apiAnswer(400, "InvalidInput", "Application is not enrolled for rotation notification. "+
		"Please update application notification preference in Developer console.", nil)
	apiQuota  = apiAnswer(429, "QuotaExceeded", "You exceeded your quota for the requested resource.", nil)
	apiServer = [2]answer{
		apiAnswer(500, "InternalFailure", "We encountered an internal error. Please try again.", nil),
		apiAnswer(503, "ServiceUnavailable", "Service temporarily unavailable. Please try again.", nil)}
)

// Handler serves the token endpoint and rotateApplicationClientSecret. Every answer carries a
// request id and waits up to Faults.Latency in real time.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, s.token)
	mux.HandleFunc("POST "+RotatePath, s.rotate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		w.Header().Set("x-amzn-RequestId", s.uuidLocked())
		d := time.Duration(s.cfg.Rand.Int64N(int64(s.cfg.Faults.Latency) + 1))
		s.mu.Unlock()
		time.Sleep(d)
		mux.ServeHTTP(w, r)
	})
}

// reply writes a and logs the answer with attrs: codes and ids, never a secret, token or body.
func (s *Sim) reply(w http.ResponseWriter, r *http.Request, a answer, attrs ...any) {
	if a.body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	if a.body != nil {
		json.NewEncoder(w).Encode(a.body)
	}
	attrs = append(attrs, "path", r.URL.Path, "status", a.status)
	s.cfg.Logger.InfoContext(r.Context(), "spapisim: answered", attrs...)
}

// token answers the token endpoint; injected faults come before any check.
func (s *Sim) token(w http.ResponseWriter, r *http.Request) {
	err := r.ParseForm()
	code, desc := formError(r.PostForm)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TokenCalls++
	f, now := &s.cfg.Faults, s.cfg.Clock()
	switch {
	case f.FailNextTokenCalls > 0:
		f.FailNextTokenCalls--
		s.stats.TokenServerErrors++
		s.reply(w, r, lwaServer[1])
	case s.chanceLocked(f.TokenErrorRate):
		s.stats.TokenServerErrors++
		s.reply(w, r, lwaServer[s.cfg.Rand.IntN(2)])
	case err != nil:
		s.reply(w, r, lwaAnswer(400, "invalid_request", "The request has an invalid parameter"))
	case code != "":
		s.reply(w, r, lwaAnswer(400, code, desc), "error", code)
	case r.PostForm.Get("client_id") != s.cfg.ClientID, !s.acceptsLocked(r.PostForm.Get("client_secret"), now):
		s.reply(w, r, lwaBadClient, "error", "invalid_client")
	default:
		s.stats.TokenClientCredentials++
		access := "Atza|" + base64.RawURLEncoding.EncodeToString(s.randBytesLocked(48))
		if slices.Contains(strings.Fields(r.PostForm.Get("scope")), ScopeRotation) {
			s.tokens[access] = now.Add(TokenLifetime)
		}
		s.reply(w, r, answer{http.StatusOK, map[string]any{"access_token": access, "token_type": "bearer",
			"expires_in": int(TokenLifetime / time.Second)}})
	}
}

// formError is LWA's answer to a client-credentials form it cannot take, "" when it can.
func formError(f url.Values) (code, description string) {
	if g := f.Get("grant_type"); g != "" && g != "client_credentials" {
		return "unsupported_grant_type", "The authorization grant type is not supported by the authorization server"
	}
	for _, p := range []string{"grant_type", "client_id", "client_secret", "scope"} { // in LWA's order
		if f.Get(p) == "" {
			return "invalid_request", "The request is missing a required parameter : " + p
		}
	}
	for _, sc := range strings.Fields(f.Get("scope")) {
		if sc != ScopeRotation && sc != ScopeNotifications {
			return "invalid_scope", "The request has an invalid parameter : scope"
		}
	}
	return "", ""
}

// rotate is rotateApplicationClientSecret (cases 2 to 5).
func (s *Sim) rotate(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.RotateCalls++
	now, f := s.cfg.Clock(), &s.cfg.Faults

	// Case 2: a live token with the rotation scope.
	if expiresAt, ok := s.tokens[r.Header.Get("x-amz-access-token")]; !ok || !now.Before(expiresAt) {
		s.reply(w, r, apiForbidden)
		return
	}

	// Case 3: the limiter, and injected throttling in front of it.
	limited := now.Before(s.lastRotate.Add(rotateInterval))
	if f.ThrottleNextRotateCalls > 0 || s.chanceLocked(f.RotateThrottleRate) || limited {
		f.ThrottleNextRotateCalls = max(f.ThrottleNextRotateCalls-1, 0)
		s.stats.RotateThrottled++
		s.reply(w, r, apiQuota)
		return
	}
	s.lastRotate = now
	if s.chanceLocked(f.RotateErrorRate) {
		s.reply(w, r, apiServer[s.cfg.Rand.IntN(2)])
		return
	}

	// Case 4: no queue registered.
	if s.cfg.NewSecretDeliverer == nil {
		w.Header().Set("x-amzn-RateLimit-Limit", RateLimit)
		s.stats.RotateNotEnrolled++
		s.reply(w, r, apiNotEnrolled)
		return
	}

	// Case 5: issue the secret and queue its notification; an injected lost answer comes after.
	s.stats.Rotations++
	id := s.rotateLocked()
	a := answer{status: http.StatusNoContent}
	if s.chanceLocked(f.RotateLostResponseRate) {
		a = apiServer[s.cfg.Rand.IntN(2)]
	} else {
		w.Header().Set("x-amzn-RateLimit-Limit", RateLimit)
	}
	s.reply(w, r, a, "notificationId", id)
}
