package attach

// Safely is safely, for the external tests: their frames are the
// component's, not the SDK's.
var Safely = safely
