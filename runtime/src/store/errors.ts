/** The archive or one of its blobs is not an acceptable image; the message says which part. */
export class ImageInvalidError extends Error {
  override readonly name: string = 'ImageInvalidError';
}

/** A blob's bytes do not hash to the digest (or diffID) the image claims for them. */
export class ImageDigestMismatchError extends ImageInvalidError {
  override readonly name = 'ImageDigestMismatchError';
}

/** A layer entry would escape the layer root or is of a kind thaw refuses. */
export class UnsafeLayerEntryError extends ImageInvalidError {
  override readonly name = 'UnsafeLayerEntryError';
}

export function isImageInvalidError(err: unknown): err is ImageInvalidError {
  return err instanceof ImageInvalidError;
}
