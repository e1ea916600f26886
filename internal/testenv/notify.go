package testenv

// Variables of the notifiers' receivers scripts/test.sh starts
// (scripts/services/alertmanager.sh, scripts/services/smtp.sh).
const (
	// AlertmanagerURL is the base URL of Debian's Alertmanager (0.25),
	// started with HA gossip off and one route to a receiver that notifies
	// nobody: the alerts posted are read back from its API.
	AlertmanagerURL = "SATELLITE_TEST_ALERTMANAGER_URL"
	// AlertmanagerBin is the prometheus-alertmanager binary, for tests that
	// start their own.
	AlertmanagerBin = "SATELLITE_TEST_ALERTMANAGER_BIN"

	// SMTPAddr is HOST:PORT of an aiosmtpd server that requires STARTTLS
	// and then AUTH (SMTPUser, SMTPPassword), and stores every message it
	// takes in the maildir SMTPMaildir.
	SMTPAddr = "SATELLITE_TEST_SMTP_ADDR"
	// SMTPSAddr is HOST:PORT of the same server speaking implicit TLS
	// (SMTPS, as on port 465), with the same AUTH and maildir.
	SMTPSAddr = "SATELLITE_TEST_SMTPS_ADDR"
	// SMTPMaildir is the maildir the SMTP servers deliver to.
	SMTPMaildir = "SATELLITE_TEST_SMTP_MAILDIR"
	// SMTPCA is the PEM certificate the SMTP servers present (self-signed
	// for 127.0.0.1 and localhost): the CA to trust.
	SMTPCA = "SATELLITE_TEST_SMTP_CA"
	// SMTPUser and SMTPPassword are the one login the SMTP servers take.
	SMTPUser     = "SATELLITE_TEST_SMTP_USER"
	SMTPPassword = "SATELLITE_TEST_SMTP_PASSWORD"
)
