package awsapigw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/auth"
)

// Keys of the authorizer context that $connect reads. API Gateway passes
// the context to every route's integration as requestContext.authorizer;
// values must be strings, numbers or booleans, so rooms travel as a JSON
// array in a string (["class-7a,*"]): lossless, so a room pattern holding
// a comma means on Lambda exactly what it means on the standalone server.
const (
	CtxUserID = "userId"
	CtxName   = "name"
	CtxRole   = "role"
	CtxRooms  = "rooms"
	CtxExp    = "exp"
)

// ErrUnauthorized is the error an authorizer returns to make API Gateway
// answer the handshake with HTTP 401. The message must be exactly
// "Unauthorized".
var ErrUnauthorized = errors.New("Unauthorized")

// AuthorizerOptions configure an Authorizer.
type AuthorizerOptions struct {
	// Verifier checks tokens (the same core/auth code as the server).
	Verifier *auth.Verifier
	// Deny answers refused tokens with an explicit Deny policy, which API
	// Gateway turns into HTTP 403. By default they get ErrUnauthorized
	// (HTTP 401, as PROTOCOL.md asks).
	Deny bool
	// Logger receives one line per refusal (never the token).
	Logger *slog.Logger
}

// Authorizer is an API Gateway REQUEST authorizer for the $connect route,
// with identity source route.request.querystring.token.
type Authorizer struct {
	o AuthorizerOptions
}

// NewAuthorizer returns an Authorizer; o.Verifier is required.
func NewAuthorizer(o AuthorizerOptions) (*Authorizer, error) {
	if o.Verifier == nil {
		return nil, errors.New("awsapigw: authorizer needs a Verifier")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Authorizer{o: o}, nil
}

// Authorize verifies ?token= and returns an Allow policy for the method
// ARN with the user in the context, or ErrUnauthorized (or a Deny policy,
// see AuthorizerOptions.Deny).
func (a *Authorizer) Authorize(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	tok := req.QueryStringParameters["token"]
	if tok == "" {
		return a.refuse(req, "no token")
	}
	c, err := a.o.Verifier.Verify(tok)
	if err != nil {
		return a.refuse(req, err.Error())
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    c.Subject,
		PolicyDocument: policy("Allow", req.MethodArn),
		Context: map[string]any{
			CtxUserID: c.Subject,
			CtxName:   c.Name,
			CtxRole:   c.Role,
			CtxRooms:  EncodeRooms(c.Rooms),
			CtxExp:    c.Expiry,
		},
	}, nil
}

// EncodeRooms writes a rooms claim for the authorizer context: a JSON
// array of strings ("[]" for none).
func EncodeRooms(rooms []string) string {
	if rooms == nil {
		rooms = []string{}
	}
	b, _ := json.Marshal(rooms) // strings always marshal
	return string(b)
}

// DecodeRooms reads what EncodeRooms wrote. An empty value is no rooms.
// Anything else that is not a JSON array of strings — e.g. the
// comma-joined form older authorizers wrote, whose meaning a comma inside
// a pattern changed — is an error, so the connection is refused rather
// than granted rooms its token does not name.
func DecodeRooms(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var rooms []string
	if err := json.Unmarshal([]byte(v), &rooms); err != nil || rooms == nil {
		return nil, fmt.Errorf("rooms is not a JSON array of strings")
	}
	if len(rooms) == 0 {
		return nil, nil
	}
	return rooms, nil
}

// refuse answers a refused handshake. why goes to the log only: the
// client gets API Gateway's plain 401 (or 403 with Deny).
func (a *Authorizer) refuse(req events.APIGatewayCustomAuthorizerRequestTypeRequest, why string) (events.APIGatewayCustomAuthorizerResponse, error) {
	a.o.Logger.Info("handshake refused", "reason", why, "request", req.RequestContext.RequestID, "ip", req.RequestContext.Identity.SourceIP)
	if a.o.Deny {
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "anonymous", PolicyDocument: policy("Deny", req.MethodArn)}, nil
	}
	return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
}

func policy(effect, arn string) events.APIGatewayCustomAuthorizerPolicy {
	return events.APIGatewayCustomAuthorizerPolicy{
		Version: "2012-10-17",
		Statement: []events.IAMPolicyStatement{{
			Action:   []string{"execute-api:Invoke"},
			Effect:   effect,
			Resource: []string{arn},
		}},
	}
}

// Start runs the authorizer as the Lambda function's handler; it does not
// return.
func (a *Authorizer) Start() { lambda.Start(a.Authorize) }

// ConnInfo rebuilds the connection description from the authorizer
// context of a $connect event (requestContext.authorizer).
func ConnInfo(authorizer any, id core.ConnID) (core.ConnInfo, error) {
	m, ok := authorizer.(map[string]any)
	if !ok {
		return core.ConnInfo{}, fmt.Errorf("awsapigw: no authorizer context on $connect (%T)", authorizer)
	}
	str := func(k string) string {
		switch v := m[k].(type) {
		case string:
			return v
		case nil:
			return ""
		default:
			return fmt.Sprint(v)
		}
	}
	info := core.ConnInfo{ID: id, User: core.User{ID: str(CtxUserID), Name: str(CtxName), Role: str(CtxRole)}}
	if info.User.ID == "" {
		return core.ConnInfo{}, errors.New("awsapigw: authorizer context without " + CtxUserID)
	}
	rooms, err := DecodeRooms(str(CtxRooms))
	if err != nil {
		return core.ConnInfo{}, fmt.Errorf("awsapigw: authorizer context %s: %w", CtxRooms, err)
	}
	info.Rooms = rooms
	exp, err := number(m[CtxExp])
	if err != nil {
		return core.ConnInfo{}, fmt.Errorf("awsapigw: authorizer context %s: %w", CtxExp, err)
	}
	if exp > 0 {
		info.Expires = time.Unix(exp, 0)
	}
	return info, nil
}

// number reads an integer that API Gateway may pass as a number or as a
// string.
func number(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		return int64(x), nil
	case json.Number:
		return x.Int64()
	case string:
		if x == "" {
			return 0, nil
		}
		f, err := strconv.ParseFloat(x, 64)
		return int64(f), err
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	}
	return 0, fmt.Errorf("unexpected %T", v)
}
