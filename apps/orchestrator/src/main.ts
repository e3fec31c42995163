import { X } from '@atelier/contracts';
console.log('x', X);
