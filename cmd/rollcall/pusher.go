package main

import (
	"flag"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/server"
)

// pusherConfig is the pusher: section of the YAML file (docs/pusher.md).
type pusherConfig struct {
	ActivityTimeout int         `yaml:"activity_timeout"` // seconds, sent to clients
	MaxConnections  int         `yaml:"max_connections"`  // every app together, 0 = no cap (4100)
	Apps            []pusherApp `yaml:"apps"`
	// SgcChannels are the patterns of the reserved channels (private-,
	// presence-…) of the default app that authenticated sgc clients may
	// use (--sgc-reserved-channels).
	SgcChannels []string `yaml:"sgc_channels"`

	// From the flags: --pusher-app (repeatable), --pusher-webhook
	// (repeatable, every event type, for the flag apps) and
	// --pusher-client-events (for the flag apps).
	flagApps     []pusherApp
	flagWebhooks []string
	clientEvents bool
}

type pusherApp struct {
	ID                    string          `yaml:"id"`
	Key                   string          `yaml:"key"`
	Secret                string          `yaml:"secret"`
	Default               bool            `yaml:"default"`
	Disabled              bool            `yaml:"disabled"`
	ClientEvents          bool            `yaml:"client_events"`
	MaxConnections        int             `yaml:"max_connections"`
	MaxPresenceMembers    int             `yaml:"max_presence_members"`
	MaxUserInfoBytes      int             `yaml:"max_user_info_bytes"`
	MaxUserIDBytes        int             `yaml:"max_user_id_bytes"`
	MaxChannelName        int             `yaml:"max_channel_name"`
	MaxEventBytes         int             `yaml:"max_event_bytes"`
	ClientEventsPerSecond float64         `yaml:"client_events_per_second"`
	Webhooks              []pusherWebhook `yaml:"webhooks"`
	// SubscriptionCount sends pusher_internal:subscription_count and its
	// webhook; UserAuthenticationTimeout closes sockets not authorized
	// within it (4009), 0 = off.
	SubscriptionCount         bool          `yaml:"subscription_count"`
	UserAuthenticationTimeout time.Duration `yaml:"user_authentication_timeout"`
}

type pusherWebhook struct {
	URL        string   `yaml:"url"`
	EventTypes []string `yaml:"event_types"`
}

func (c *config) pusherFlags(fs *flag.FlagSet) {
	fs.Func("pusher-app", "a Pusher app ID:KEY:SECRET on /app/{key} and /apps/{id}/ (repeatable; the first is the default app, whose channels sgc clients share)", func(v string) error {
		parts := strings.SplitN(v, ":", 3)
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return fmt.Errorf("want ID:KEY:SECRET, got %q", v)
		}
		c.Pusher.flagApps = append(c.Pusher.flagApps, pusherApp{ID: parts[0], Key: parts[1], Secret: parts[2]})
		return nil
	})
	fs.Func("pusher-webhook", "a webhook URL for every event type of the --pusher-app apps (repeatable)", func(v string) error {
		if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			return fmt.Errorf("want an http:// or https:// URL, got %q", v)
		}
		c.Pusher.flagWebhooks = append(c.Pusher.flagWebhooks, v)
		return nil
	})
	fs.BoolVar(&c.Pusher.clientEvents, "pusher-client-events", c.Pusher.clientEvents, "let clients of the --pusher-app apps send client-* events")
	fs.Func("sgc-reserved-channels", "comma-separated patterns (path.Match: presence-team-*) of the default Pusher app's private and presence channels that sgc clients authenticated by --auth may use; others stay Pusher's alone", func(v string) error {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				if _, err := path.Match(p, ""); err != nil {
					return fmt.Errorf("pattern %q: %w", p, err)
				}
				c.Pusher.SgcChannels = append(c.Pusher.SgcChannels, p)
			}
		}
		return nil
	})
	fs.IntVar(&c.Pusher.ActivityTimeout, "pusher-activity-timeout", c.Pusher.ActivityTimeout, "activity_timeout sent to Pusher clients, in seconds")
}

// pusherOptions turns the apps of the file and of the flags into the
// server's Pusher options. The first flag app is the default app unless a
// file app is.
func (c *config) pusherOptions() server.PusherOptions {
	p := c.Pusher
	var apps []pusher.App
	hasDefault := false
	for _, a := range p.Apps {
		apps = append(apps, a.app())
		hasDefault = hasDefault || a.Default
	}
	for i, a := range p.flagApps {
		app := a.app()
		app.Default = i == 0 && !hasDefault
		app.ClientEvents = p.clientEvents
		for _, u := range p.flagWebhooks {
			app.Webhooks = append(app.Webhooks, pusher.Webhook{URL: u})
		}
		apps = append(apps, app)
	}
	return server.PusherOptions{Apps: apps, ActivityTimeout: p.ActivityTimeout, MaxConnections: p.MaxConnections, SgcChannels: p.SgcChannels}
}

func (a pusherApp) app() pusher.App {
	out := pusher.App{
		ID: a.ID, Key: a.Key, Secret: a.Secret, Default: a.Default, Disabled: a.Disabled,
		ClientEvents: a.ClientEvents, MaxConnections: a.MaxConnections, MaxPresenceMembers: a.MaxPresenceMembers,
		MaxUserInfoBytes: a.MaxUserInfoBytes, MaxUserIDBytes: a.MaxUserIDBytes, MaxChannelName: a.MaxChannelName, MaxEventBytes: a.MaxEventBytes,
		ClientEventsPerSecond: a.ClientEventsPerSecond, SubscriptionCount: a.SubscriptionCount,
		UserAuthenticationTimeout: a.UserAuthenticationTimeout,
	}
	for _, w := range a.Webhooks {
		out.Webhooks = append(out.Webhooks, pusher.Webhook{URL: w.URL, EventTypes: w.EventTypes})
	}
	return out
}

// validatePusher refuses negative Pusher limits.
func (c *config) validatePusher() []string {
	var bad []string
	if c.Pusher.ActivityTimeout < 1 {
		bad = append(bad, fmt.Sprintf("--pusher-activity-timeout (pusher.activity_timeout) must be at least 1 (seconds), got %d", c.Pusher.ActivityTimeout))
	}
	if c.Pusher.MaxConnections < 0 {
		bad = append(bad, "pusher.max_connections must not be negative (0 = no cap)")
	}
	for _, a := range c.Pusher.Apps {
		if a.MaxConnections < 0 || a.MaxPresenceMembers < 0 || a.MaxUserInfoBytes < 0 || a.MaxUserIDBytes < 0 || a.MaxChannelName < 0 || a.MaxEventBytes < 0 || a.ClientEventsPerSecond < 0 {
			bad = append(bad, fmt.Sprintf("pusher app %q: limits must not be negative (0 = the default)", a.ID))
		}
		if a.UserAuthenticationTimeout < 0 {
			bad = append(bad, fmt.Sprintf("pusher app %q: user_authentication_timeout must not be negative (0 = off)", a.ID))
		}
	}
	return bad
}
