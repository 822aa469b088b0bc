// Package defaults holds the defaults of the Lambda deployment's settings
// (the lambda.* keys), each written once: adapters/awsapigw takes them for
// a zero option and internal/config's Defaults quotes them. It imports the
// standard library only, so that internal/config, and with it the
// standalone gateway, can quote them without linking the AWS SDK
// (internal/layering checks both).
package defaults
