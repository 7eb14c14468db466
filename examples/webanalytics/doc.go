// Package webanalytics is Gale's first application: real-time web
// marketing. Its contract is EVENTS.md: what the tracker sends, what the
// ingest spout (package sdk/ingest, class gale.HTTPIngest) accepts and
// emits, and what the traffic generator (`gale demo traffic`) imitates.
// The topology groups the events into per-page aggregates (PageStats:
// active visitors, an attention heatmap from cursor positions, a click
// heatmap, call-to-action conversion) and sessions (Sessions, on sdk/window
// session windows), and the Dashboard bolt serves a live page over
// Server-Sent Events.
//
// Importing the package (the gale binary does) registers its components,
// and its static files with the ingest spout under the asset set
// "webanalytics": a spout with ingest.assets: webanalytics serves
//
//	GET /            the demo landing page (static/index.html), which loads
//	GET /tracker.js  the tracker (tracker.js), posting to /events
//
// The traffic generator lives in this package too (Generator), so that
// tests and the CLI share one implementation of a realistic visitor.
package webanalytics
