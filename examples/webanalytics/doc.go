// Package webanalytics is Gale's first application: real-time web
// marketing. A tracker on web pages sends cursor movements, clicks, scrolls
// and visibility changes (EVENTS.md); the topology groups them into
// per-page aggregates (PageStats: active visitors, an attention heatmap
// from cursor positions, a click heatmap, call-to-action conversion) and
// sessions, and the Dashboard bolt serves a live page over Server-Sent
// Events. Importing the package registers its components.
package webanalytics
