import { SetMetadata } from '@nestjs/common';

/** Marks routes that answer without authentication (health, metrics); API guards honour it. */
export const PUBLIC_ROUTE = 'atelier:public-route';
export const PublicRoute = () => SetMetadata(PUBLIC_ROUTE, true);
