// Command classgate-token mints an HS256 access token for development and
// tests:
//
//	classgate-token -secret S -name Ann -role teacher -rooms 'school-7/*,lobby' -ttl 12h
//
// It prints the token on stdout. Production tokens come from your identity
// provider; the gateway only verifies them.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/classgate/classgate/core/auth"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "classgate-token:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("classgate-token", flag.ContinueOnError)
	secret := fs.String("secret", os.Getenv("CLASSGATE_AUTH__HS256_SECRET"), "HS256 secret (default $CLASSGATE_AUTH__HS256_SECRET)")
	name := fs.String("name", "Ann", "display name")
	user := fs.String("user", "", "user id (default: derived from name and role)")
	role := fs.String("role", "teacher", "role claim")
	rooms := fs.String("rooms", "*", "comma-separated room patterns")
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(*secret) < 32 {
		return fmt.Errorf("-secret must be at least 32 characters")
	}
	sub := *user
	if sub == "" {
		sub = strings.ToLower(strings.ReplaceAll(*name, " ", "-")) + "-" + *role
	}
	tok, err := auth.SignHS256([]byte(*secret), auth.Claims{Subject: sub, Name: *name, Role: *role,
		Rooms: strings.Split(*rooms, ","), Expiry: time.Now().Add(*ttl).Unix()})
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
