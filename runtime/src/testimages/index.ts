// The image builder too, for the importers that predate @thaw/runtime/build.
export * from '../build/index.js';
export { buildTestImage, type TestImageName } from './images.js';
export { buildLambdaImage, LAMBDA_TEST_HANDLER, lambdaImageDefinition } from './lambda.js';
export {
  ensureLambdaRic,
  LAMBDA_RIC_INSTALL_TIMEOUT_MS,
  LAMBDA_RIC_VERSION,
  lambdaRicPackage,
} from './lambda-ric.js';
