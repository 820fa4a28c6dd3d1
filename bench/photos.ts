import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';

const ROOT = path.resolve(__dirname, '..', '..');

/** The test fixtures' photographs (ImageNet validation JPEGs), the truncated one left out. */
export function fixturePhotos(): string[] {
  const val = path.join(ROOT, 'test/fixtures/imagenet/val');
  return fs.readdirSync(val, {recursive: true, encoding: 'utf8'})
    .filter((f) => f.endsWith('.JPEG') && !f.includes('truncated'))
    .sort()
    .map((f) => path.join(val, f));
}

/**
 * Writes `count` full-size (500×375, quality 90) JPEGs into `dir`, spread over `classes` sub-folders when given (an
 * ImageNet-style folder) or flat when empty; each is one of the fixture photographs, cropped, and turned by 180° or
 * not, so that they decode like photographs of that size. `offset` varies which photo and turn a set starts from.
 * Returns the files written.
 */
export async function makePhotos(dir: string, classes: readonly string[], count: number, offset = 0): Promise<string[]> {
  const photos = fixturePhotos();
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const k = i + offset;
    const sub = classes.length > 0 ? path.join(dir, classes[i % classes.length]) : dir;
    fs.mkdirSync(sub, {recursive: true});
    const file = path.join(sub, `img${i}.JPEG`);
    await sharp(photos[k % photos.length]).resize(500, 375, {fit: 'cover'}).rotate(Math.floor(k / photos.length) % 2 === 0 ? 0 : 180).jpeg({quality: 90}).toFile(file);
    files.push(file);
  }
  return files;
}
